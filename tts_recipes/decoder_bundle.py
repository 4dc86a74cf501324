"""Where a TTS model dir's decoder lives: the stored name of a VAE or Vocos dir, and its copy inside an export.

A stored name of a local dir is read relative to the dir of the file that stores it (see
:func:`resolve_ref`), never relative to the current folder alone, and a TTS export carries its
decoder inside it (:func:`bundle_decoder`), so a model dir works from anywhere after being copied,
moved or uploaded; a hub id stays a hub id.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from svae_tts.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from svae_tts.hub import is_hub_id
from svae_tts.hub import is_release_ref
from tts_recipes.errors import TTSError

DEFAULT_VOCOS = "charactr/vocos-mel-24khz"  # the Vocos F5-TTS's mel front end was trained with

def resolve_ref(ref: str | os.PathLike, base_dir: str | os.PathLike | None, what: str, source: str,
                hint: str = "", inside_only: bool = False) -> str:
    """Where a stored name of a model dir points: an absolute local dir, or a hub name (a hub id
    ``owner/name``, or for a VAE a release reference ``owner/repo/subfolder``, which ``load_vae`` imports).

    A relative path is looked up relative to ``base_dir`` (the dir of the file that stores it, so a
    model dir or latent set can be moved or copied together with what it names) first, then as
    given, relative to the current folder: how files written before this rule meant it. With
    ``inside_only`` (a decoder bundled into ``base_dir``) the current folder is never tried: a
    ``vae`` folder there (this project's own package, say) is not the one that went missing.
    ``hint`` (e.g. "; set data.vae=DIR") ends the not-found error.
    """
    ref = str(ref)
    path = Path(ref).expanduser()
    inside = Path(base_dir) / path if base_dir is not None and not path.is_absolute() else None
    tried = [inside] if inside_only and inside else [p for p in (inside, path) if p is not None]
    for cand in tried:
        if cand.is_dir():
            return os.path.abspath(cand)
    if (is_hub_id(ref) or is_release_ref(ref)) and not (inside_only and inside):
        return ref
    if inside_only and inside:
        where = f" (looked for {inside}: the model dir is incomplete)"
    else:
        where = f" (looked for {inside}, then {path} from the current folder)" if inside else ""
    raise TTSError(f"{source} needs its {what} {ref}, which is not found{where}{hint}")


# The files a bundled decoder consists of: per kind, the config key naming it (also the name of its
# folder inside a model dir) and groups of files, of which the first present one is taken.
BUNDLED_DECODERS = {
    "latent": ("vae", "VAE", ((CONFIG_NAME,), (WEIGHTS_NAME,))),
    "mel": ("vocos", "Vocos vocoder", (("config.yaml",), ("model.safetensors", "pytorch_model.bin"))),
}
_HASHES: dict[tuple, str] = {}  # (dev, inode, size, mtime_ns) -> sha256: each file is read once per process


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def _twin(final_dir: Path, key: str, name: str, digest: str) -> Path | None:
    """A file ``<sibling>/<key>/<name>`` with content ``digest`` in another model dir next to
    ``final_dir`` (another export of the same run), re-hashed so an edit in place is never copied."""
    if not final_dir.parent.is_dir():
        return None
    for sib in sorted(final_dir.parent.iterdir(), reverse=True):
        cand = sib / key / name
        if sib.name.startswith(".") or not cand.is_file():
            continue
        try:
            recorded = json.loads((sib / CONFIG_NAME).read_text(encoding="utf-8"))["feature"][f"{key}_sha256"][name]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if recorded == digest and file_sha256(cand) == digest:
            return cand
    return None


def _link(src: Path, dst: Path) -> bool:
    """Hard-link ``dst`` to ``src``; False where the file system cannot (another device, no links, too many)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        return False


def bundle_decoder(feature: dict[str, Any], out_dir: Path, final_dir: Path, base_dir: str | os.PathLike | None,
                   source: str) -> dict[str, Any]:
    """Put the local decoder dir ``feature`` names (VAE or Vocos) into ``out_dir/<vae|vocos>/``.

    Returns the config to store: the decoder named by its folder relative to the model dir, with
    each file's sha256 and where it came from. A hub id is left as it is; a release reference
    (``owner/repo/subfolder``) is bundled from its cached import. A file identical to one
    in a sibling model dir (another export of the same run) is hard-linked to it (copied where the
    file system cannot link), so a run stores its ~200 MB VAE once however many exports it writes,
    yet each export is complete when copied alone. The user's own decoder files are copied, never
    linked: an edit of theirs in place must not reach into exports.
    """
    spec = BUNDLED_DECODERS.get(feature.get("kind"))
    if spec is None:
        return dict(feature)
    key, what, groups = spec
    ref = feature.get(key) or (DEFAULT_VOCOS if key == "vocos" else None)
    if not ref:
        raise TTSError(f"{source}: the feature space config does not name its {what} ({key!r})")
    src = resolve_ref(ref, base_dir, what, source, inside_only=f"{key}_sha256" in feature)
    named = None
    if key == "vae" and is_release_ref(src):
        # a release reference is bundled like a local dir (from its cached import), so the export
        # loads offline and a fine-tune from it can check its VAE by hash
        from vae.official import cached_release

        named, src = src, str(cached_release(src))
    if not Path(src).is_dir():  # a hub id
        return dict(feature)
    dest = out_dir / key
    dest.mkdir()
    hashes = {}
    for group in groups:
        name = next((n for n in group if (Path(src) / n).is_file()), None)
        if name is None:
            raise TTSError(f"{source}: {what} dir {src} lacks {' or '.join(group)}")
        twin = _twin(final_dir, key, name, file_sha256(Path(src) / name))
        if twin is None or not _link(twin, dest / name):
            shutil.copyfile(twin or Path(src) / name, dest / name)
        hashes[name] = file_sha256(dest / name)  # what was written (free when linked: the twin's is known)
    bundled_before = base_dir is not None and src == os.path.abspath(Path(base_dir) / key)
    origin = feature.get(f"{key}_source", src) if bundled_before else (named or src)
    return {**feature, key: key, f"{key}_sha256": hashes, f"{key}_source": origin}


def record_vae(feature: dict[str, Any]) -> dict[str, Any]:
    """A latent feature config with the VAE its latents came from written out for whoever reads
    the model dir (its card, :attr:`tts_recipes.synthesis.Synthesizer.expected_vae`): ``vae_name``,
    the hub id or the local dir's last component (a card names no local path), and
    ``vae_weights_sha256``, the sha256 of that VAE's model.safetensors: from the bundled copy, or
    for a hub VAE from the hub cache it was loaded from (left out when it is not there)."""
    from svae_tts.model_card import expected_vae

    vae = expected_vae(feature)
    if vae is None:
        return feature
    sha = vae["weights_sha256"]
    ref = str(feature.get("vae") or "")
    if sha is None and is_hub_id(ref):
        sha = _hub_cache_sha256(ref)
    return {**feature, "vae_name": vae["name"], **({"vae_weights_sha256": sha} if sha else {})}


def _hub_cache_sha256(repo_id: str) -> str | None:
    """The sha256 of a hub model's weights as the local hub cache holds them (nothing is fetched)."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, WEIGHTS_NAME)
    return file_sha256(Path(path)) if isinstance(path, str) and Path(path).is_file() else None
