"""Names of models on the Hugging Face hub, and the one place that fetches from it.

Two kinds of hub names are taken wherever a model is:

- a *model dir* ``owner/name``: a repo holding one of our model dirs (``config.json`` +
  ``model.safetensors``), fetched by :func:`hub_snapshot` into the hub's own cache;
- a *release reference* ``owner/repo/subfolder`` (``zkniu/Semantic-VAE/semantic_vae``): a folder
  of a repo in the Semantic-VAE release format, which the VAE stage imports once into
  :func:`svae_cache_dir` (``vae.official.cached_release``) and loads from there.

A name that is also a local path is always the local path. :func:`model_folder` is the one place
that decides what a name of a model folder is (a local directory, or a hub id to fetch) for every
loader; every fetch goes through :func:`hub_snapshot`, so an offline machine, a missing repo or a
typo gives the same one-line error naming the reference, and a pre-populated hub cache
(``HF_HUB_CACHE``, ``HF_HUB_OFFLINE=1``) is used without network.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence, Union

from svae_tts.errors import CheckpointError, exc_summary

_NAME = r"[A-Za-z0-9][\w.-]*"
_HUB_ID = re.compile(rf"^{_NAME}/{_NAME}$")
# exactly one subfolder, as the release has them: a longer missing path is a typo'd local path, not a hub name
_RELEASE_REF = re.compile(rf"^{_NAME}/{_NAME}/{_NAME}$")

CACHE_ENV = "SVAE_TTS_CACHE"  # where imported releases are kept (default ~/.cache/svae-tts)


def looks_like_hub_id(ref: str) -> bool:
    """``owner/name`` in form (a repo id to create or upload to), whatever is on the disk."""
    return bool(_HUB_ID.match(ref))


def looks_like_release_ref(ref: str) -> bool:
    """``owner/name`` or ``owner/repo/subfolder`` in form, whatever is on the disk."""
    return bool(_HUB_ID.match(ref) or _RELEASE_REF.match(ref))


def is_hub_id(ref: str) -> bool:
    """``owner/name`` that is not also a local path."""
    return looks_like_hub_id(ref) and not Path(ref).exists()


def is_release_ref(ref: str) -> bool:
    """``owner/repo/subfolder`` (a folder of a hub repo) that is not also a local path."""
    return bool(_RELEASE_REF.match(ref)) and not Path(ref).exists()


def split_release_ref(ref: str) -> tuple[str, str]:
    """``owner/repo/subfolder`` -> ``("owner/repo", "subfolder")``."""
    parts = ref.strip("/").split("/")
    return "/".join(parts[:2]), "/".join(parts[2:])


FilePatterns = Sequence[Union[str, Sequence[str]]]


def model_folder(ref: str | os.PathLike, files: FilePatterns, what: str = "directory",
                 revision: str | None = None) -> Path:
    """The local folder ``ref`` names, for a loader to read: an existing directory as it is; an
    ``owner/name`` hub id downloaded (or found in the hub cache) with the files ``files`` selects;
    anything else one :class:`CheckpointError` line naming ``ref`` (``what``: what it should be,
    e.g. "model directory").

    ``files`` are glob patterns of the repo's files; an entry that is a sequence of patterns is a
    choice, taken in order until the repo has a file for one (``("*.safetensors",
    "pytorch_model*.bin")``: the safe weights, and the pickle only where a repo has nothing else),
    so a repo holding both is not downloaded twice over. A local directory is used whatever it
    holds: its loader says what is missing, in its own terms.
    """
    s = str(ref)
    path = Path(s).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{s}: a file, not a {what}")
    if looks_like_hub_id(s):
        return _fetch(s, files, revision)
    if "/" in s or os.sep in s or s.startswith((".", "~")):  # written as a path: a typo, not a hub name
        raise CheckpointError(f"{s}: no such {what}")
    raise CheckpointError(f"{s}: no such {what}, and not a hub id of the form owner/name")


def _fetch(repo_id: str, files: FilePatterns, revision: str | None) -> Path:
    """:func:`hub_snapshot` of ``files``, each choice's first pattern first and the next only while
    the snapshot has no file for the ones tried."""
    plain = [f for f in files if isinstance(f, str)]
    choices = [list(f) for f in files if not isinstance(f, str) and f]
    folder = hub_snapshot(repo_id, plain + [c[0] for c in choices], revision=revision)
    for choice in choices:
        tried = choice[:1]
        for pattern in choice[1:]:
            if any(next(folder.glob(p), None) is not None for p in tried):
                break
            folder = hub_snapshot(repo_id, [pattern], revision=revision)
            tried.append(pattern)
    return folder


def hub_snapshot(repo_id: str, allow_patterns: list[str], ref: str | None = None,
                 revision: str | None = None) -> Path:
    """The local folder of ``repo_id`` holding the files ``allow_patterns`` select (downloaded when
    online, from the hub cache when not). ``ref`` is how the user named it, for the error message:
    one line naming it, whatever went wrong (no network, no such repo, not in the cache)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))
    except Exception as exc:
        name = ref or repo_id
        # a missing relative path such as runs/x/step_1 has a hub name's form too: name both readings
        raise CheckpointError(f"{name}: no such local directory, and could not fetch it as a hub name ({_why(exc)}); "
                              "offline machines need it in the hub cache (HF_HUB_CACHE) or a local model "
                              "directory") from None


def _why(exc: Exception) -> str:
    """huggingface_hub's error in a few words (its messages run to several sentences)."""
    kind = type(exc).__name__
    if kind in ("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
        return "not in the hub cache, and the hub was not reached"
    if kind in ("RepositoryNotFoundError", "GatedRepoError"):
        return "no such repo on the hub, or it is private or gated"
    if kind == "RevisionNotFoundError":
        return "no such revision"
    return exc_summary(exc, 100)


def svae_cache_dir(kind: str) -> Path:
    """Our own cache for things made from downloads (``$SVAE_TTS_CACHE/<kind>``, default
    ``~/.cache/svae-tts/<kind>``): the hub cache keeps what was downloaded, this what we made of it."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "svae-tts")
    return Path(root) / kind


__all__ = ["looks_like_hub_id", "looks_like_release_ref", "is_hub_id", "is_release_ref", "split_release_ref", "model_folder", "FilePatterns",
           "hub_snapshot", "svae_cache_dir", "CACHE_ENV"]
