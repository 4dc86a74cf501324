"""Upload a model dir to the Hugging Face hub: what ``svae-tts push DIR owner/name`` does.

Only a model dir goes up (``config.json`` + ``model.safetensors`` of a VAE or TTS model), and only
the files a model dir holds, which load without running code: safetensors weights, JSON, YAML,
Markdown and text (:data:`ALLOWED_SUFFIXES`). Anything else (a pickle such as ``.pt`` or
``checkpoint.pth.tar``, ``.npy``, a script, a notebook ...) and any symlink (the upload would follow
it out of the dir) refuses the whole push, naming the file. Hidden files (editor backups, our
``.tmp-*`` leftovers) stay behind, and so does, named in the listing, what is not a regular file
(a FIFO or socket has no contents to send: reading a FIFO would wait forever). A dir without a
``README.md`` gets a model card (:mod:`svae_tts.model_card`); one that has a card keeps it unless ``rewrite_card`` is asked for,
which renders it again from the facts the old card shows when it is one of ours. The card is
rendered in memory and every check runs before anything is written; it is written into the dir
only just before the upload. A card that names an absolute local path is warned about, one line per
path. ``dry_run`` lists what would go up (and what is refused) and writes nothing.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from svae_tts.checkpoint import TTS_KIND, VAE_KIND, read_config_json, resolve_model_dir
from svae_tts.errors import CheckpointError, SvaeError, exc_summary
from svae_tts.fileio import atomic_write_text
from svae_tts.hub import looks_like_hub_id
from svae_tts.model_card import CARD_NAME, DESCRIBERS, absolute_paths, card_facts, card_for_model_dir
from svae_tts.model_kinds import refuse_other_kind

log = logging.getLogger(__name__)

# What a model dir holds: weights, config / vocabulary / provenance JSON, a Vocos config.yaml, the card.
ALLOWED_SUFFIXES = (".safetensors", ".json", ".md", ".yaml", ".yml", ".txt")


class PushError(SvaeError):
    """A dir that is not an uploadable model dir, a bad repo id, or an upload the hub refused."""


@dataclass
class PushPlan:
    """What a push uploads: ``files`` relative to ``directory`` with their sizes; ``card`` says
    whether the README.md is the dir's own (``kept``), written now (``new``) or rewritten
    (``rewrite``: from the old card's facts; ``rewrite-bare``: they were not readable), and
    ``card_text`` is what will be uploaded as it. ``refused``: files that stop the push, with why;
    ``skipped``: entries that are not regular files (a FIFO, a socket), left behind and named;
    ``warnings``: one line per absolute path the card names."""

    directory: Path
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)
    card: str = "kept"
    card_text: str = ""
    refused: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        lines = [f"{self.repo_id}: {len(self.files)} file(s), {total / 1e6:.1f} MB from {self.directory}"]
        note = {"new": " (model card, written from config.json)",
                "rewrite": " (model card, rewritten from config.json and the old card's facts)",
                "rewrite-bare": " (model card, rewritten from config.json; the old card's facts were not readable)"}
        for rel, size in self.files:
            lines.append(f"  {rel}  {size / 1e6:.2f} MB{note.get(self.card, '') if rel == CARD_NAME else ''}")
        lines += [f"  {rel}  refused ({why})" for rel, why in self.refused]
        lines += [f"  {rel}  skipped ({why})" for rel, why in self.skipped]
        return "\n".join(lines)

    def check(self) -> None:
        """Raise the one-line :class:`PushError` naming the refused files, if there are any."""
        if self.refused:
            names = [rel for rel, _ in self.refused]
            shown = ", ".join(names[:4]) + (f" ... ({len(names)} in all)" if len(names) > 4 else "")
            raise PushError(f"{self.directory}: holds what a model dir does not ({shown}); only regular "
                            f"{', '.join(ALLOWED_SUFFIXES)} files go up, no symlinks (remove or convert them, "
                            "then push again)")


def _not_regular(path: Path) -> str | None:
    """Why ``path`` (not followed if a link) is no file to upload: a FIFO, a socket or a device has
    no contents to send (reading a FIFO waits for a writer forever); ``None`` for a regular file."""
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"))
    return next((f"{name}, not a regular file" for test, name in kinds if test(mode)), "not a regular file")


def _walk(directory: Path) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """Regular files under ``directory``, symlinks (to files or dirs), and the other entries with
    why they are not files (FIFOs, sockets, devices); none under a hidden name at any depth."""
    files, links, others = [], [], []
    for root, dirs, names in os.walk(directory):
        here = Path(root)
        links += [here / d for d in sorted(dirs) if not d.startswith(".") and (here / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (here / d).is_symlink())
        for path in (here / name for name in sorted(names) if not name.startswith(".")):
            if path.is_symlink():
                links.append(path)
            elif (why := _not_regular(path)) is not None:
                others.append((path, why))
            else:
                files.append(path)
    return files, links, others


def _card(path: Path, rewrite_card: bool, license: str | None) -> tuple[str, str]:
    """``(state, text)`` of the card the push uploads (rendered, not written)."""
    card = path / CARD_NAME
    if card.is_file() and not card.is_symlink():
        old = card.read_text(encoding="utf-8", errors="replace")
        if not rewrite_card:
            return "kept", old
        facts = card_facts(old)
        if facts is not None:
            return "rewrite", card_for_model_dir(path, facts["training"], facts["metrics"],
                                                 license or facts["license"]).render()
        return "rewrite-bare", card_for_model_dir(path, license=license).render()
    return "new", card_for_model_dir(path, license=license).render()


def plan_push(directory: str | os.PathLike, repo_id: str, rewrite_card: bool = False,
              license: str | None = None) -> PushPlan:
    """Check ``directory`` is an uploadable model dir and list what would go up (nothing is written).
    Refused files are listed in ``refused`` (:meth:`PushPlan.check` raises for them); a bad repo id
    or a dir that is not a model dir raises :class:`PushError` at once."""
    if not looks_like_hub_id(repo_id):
        raise PushError(f"{repo_id}: not a hub repo id (owner/name)")
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise PushError(f"{directory}: no such model directory")
    # a run dir, a CTC judge, a release folder ...: named, and a run dir points to its newest export
    refuse_other_kind(directory, (VAE_KIND, TTS_KIND), "a VAE or TTS model dir", error=PushError)
    try:
        resolve_model_dir(path)
        kind = read_config_json(path).get("model_kind")
    except CheckpointError as exc:
        raise PushError(str(exc)) from None
    if kind not in DESCRIBERS:
        raise PushError(f"{path / 'config.json'}: not an svae-tts model dir (model_kind {kind!r})")
    files, links, others = _walk(path)
    plan = PushPlan(path, repo_id)
    plan.skipped = [(f.relative_to(path).as_posix(), why) for f, why in others]
    plan.refused = sorted([(f.relative_to(path).as_posix(), "a symlink") for f in links]
                          + [(f.relative_to(path).as_posix(), "not a model-dir file type") for f in files
                             if not f.name.lower().endswith(ALLOWED_SUFFIXES)])
    refused = {rel for rel, _ in plan.refused}
    plan.files = [(rel, f.stat().st_size) for f in files if (rel := f.relative_to(path).as_posix()) not in refused]
    if CARD_NAME not in refused:
        try:
            plan.card, plan.card_text = _card(path, rewrite_card, license)
        except CheckpointError as exc:
            raise PushError(str(exc)) from None
        plan.files = sorted([(rel, size) for rel, size in plan.files if rel != CARD_NAME]
                            + [(CARD_NAME, len(plan.card_text.encode("utf-8")))])
        plan.warnings = [f"{path / CARD_NAME} line {line}: names the local path {p}, which the hub would show"
                         + (" (--rewrite-card writes a card without it)" if plan.card == "kept" else "")
                         for line, p in absolute_paths(plan.card_text)]
    for line in plan.warnings:
        log.warning("%s", line)
    return plan


def push(directory: str | os.PathLike, repo_id: str, private: bool = False, revision: str | None = None,
         commit_message: str | None = None, dry_run: bool = False, rewrite_card: bool = False,
         license: str | None = None) -> PushPlan:
    """Upload the model dir ``directory`` to ``repo_id`` (created when missing; ``revision``: a branch,
    created when missing). Returns the plan; with ``dry_run`` nothing is written or uploaded and
    refused files are only listed in the plan (the caller checks it)."""
    plan = plan_push(directory, repo_id, rewrite_card, license)
    if dry_run:
        return plan
    plan.check()
    if plan.card != "kept":
        atomic_write_text(plan.directory / CARD_NAME, plan.card_text)
    try:
        from huggingface_hub import CommitOperationAdd, HfApi

        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        # exact paths, one operation each: a file name is never read as a glob pattern
        api.create_commit(repo_id=repo_id, repo_type="model", revision=revision,
                          operations=[CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(plan.directory / rel))
                                      for rel, _ in plan.files],
                          commit_message=commit_message or f"Upload {plan.directory.name} with svae-tts push")
    except Exception as exc:
        raise PushError(f"{repo_id}: upload failed ({exc_summary(exc, 160)}); check the network, "
                        "`hf auth login` and the repo's permissions") from None
    return plan


__all__ = ["push", "plan_push", "PushPlan", "PushError", "ALLOWED_SUFFIXES"]
