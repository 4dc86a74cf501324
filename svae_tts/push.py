"""Upload a model dir to the Hugging Face hub: what ``svae-tts push DIR owner/name`` does.

Only a model dir goes up (``config.json`` + ``model.safetensors`` of a VAE or TTS model), and only
files that load without running code: a pickle (``.pt``, ``.pth``, ``.bin``, ``.pkl`` ...) or a
script in the dir refuses the whole push, since whoever downloads it from the hub would unpickle or
run it. Hidden files (editor backups, our ``.tmp-*`` leftovers) stay behind. A dir without a
``README.md`` gets a model card first (:mod:`svae_tts.model_card`); one that has a card keeps it
unless ``rewrite_card`` is asked for. ``dry_run`` lists what would go up and writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from svae_tts.checkpoint import read_config_json, resolve_model_dir
from svae_tts.errors import CheckpointError, SvaeError, exc_summary
from svae_tts.hub import looks_like_hub_id
from svae_tts.model_card import CARD_NAME, DESCRIBERS, write_model_card

# Files that run code when loaded or executed: never uploaded from a model dir.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt", ".joblib")
CODE_SUFFIXES = (".py", ".sh", ".bat", ".exe", ".so", ".dll", ".dylib")


class PushError(SvaeError):
    """A dir that is not an uploadable model dir, a bad repo id, or an upload the hub refused."""


@dataclass
class PushPlan:
    """What a push uploads: ``files`` relative to ``directory`` with their sizes; ``card`` says
    whether the README.md is the dir's own (``kept``), written now (``new``) or rewritten."""

    directory: Path
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)
    card: str = "kept"

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        lines = [f"{self.repo_id}: {len(self.files)} file(s), {total / 1e6:.1f} MB from {self.directory}"]
        for rel, size in self.files:
            note = {"new": " (model card, written from config.json)", "rewrite": " (model card, rewritten)"}
            lines.append(f"  {rel}  {size / 1e6:.2f} MB{note.get(self.card, '') if rel == CARD_NAME else ''}")
        return "\n".join(lines)


def _visible_files(directory: Path) -> list[Path]:
    """Files under ``directory``, none under a hidden name at any depth."""
    out = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out


def plan_push(directory: str | os.PathLike, repo_id: str, rewrite_card: bool = False) -> PushPlan:
    """Check ``directory`` is an uploadable model dir and list what would go up (nothing is written)."""
    if not looks_like_hub_id(repo_id):
        raise PushError(f"{repo_id}: not a hub repo id (owner/name)")
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise PushError(f"{directory}: no such model directory")
    try:
        resolve_model_dir(path)
        kind = read_config_json(path).get("model_kind")
    except CheckpointError as exc:
        raise PushError(str(exc)) from None
    if kind not in DESCRIBERS:
        raise PushError(f"{path / 'config.json'}: not an svae-tts model dir (model_kind {kind!r})")
    files = _visible_files(path)
    unsafe = [f.relative_to(path).as_posix() for f in files if f.suffix.lower() in PICKLE_SUFFIXES + CODE_SUFFIXES]
    if unsafe:
        shown = ", ".join(unsafe[:4]) + (f" ... ({len(unsafe)} in all)" if len(unsafe) > 4 else "")
        raise PushError(f"{path}: holds files that run code when loaded ({shown}); a model dir on the hub must be "
                        "safetensors and JSON only (convert or remove them, then push again)")
    has_card = (path / CARD_NAME).is_file()
    plan = PushPlan(path, repo_id, card="rewrite" if has_card and rewrite_card else "kept" if has_card else "new")
    plan.files = [(f.relative_to(path).as_posix(), f.stat().st_size) for f in files]
    if not has_card:
        plan.files.append((CARD_NAME, 0))
        plan.files.sort()
    return plan


def push(directory: str | os.PathLike, repo_id: str, private: bool = False, revision: str | None = None,
         commit_message: str | None = None, dry_run: bool = False, rewrite_card: bool = False,
         license: str | None = None) -> PushPlan:
    """Upload the model dir ``directory`` to ``repo_id`` (created when missing; ``revision``: a branch,
    created when missing). Returns the plan; with ``dry_run`` nothing is written or uploaded."""
    plan = plan_push(directory, repo_id, rewrite_card)
    if dry_run:
        return plan
    if plan.card != "kept":
        write_model_card(plan.directory, license=license, overwrite=True)
        plan.files = [(rel, (plan.directory / rel).stat().st_size) for rel, _ in plan.files]
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(plan.directory), revision=revision,
                          allow_patterns=[rel for rel, _ in plan.files],
                          commit_message=commit_message or f"Upload {plan.directory.name} with svae-tts push")
    except Exception as exc:
        raise PushError(f"{repo_id}: upload failed ({exc_summary(exc, 160)}); check the network, "
                        "`hf auth login` and the repo's permissions") from None
    return plan


__all__ = ["push", "plan_push", "PushPlan", "PushError", "PICKLE_SUFFIXES"]
