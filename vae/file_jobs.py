"""Encode / decode / reconstruct many files with one VAE: the functions behind ``svae-tts vae ...``.

Each job walks its inputs one file at a time, encodes with :meth:`vae.model.SemanticVAE.encode_clips`
(the end padding every stage uses, so a file's latents equal its latents in a latent set), skips a file that fails in any way (a bad file, malformed metadata, running out
of memory on a huge one: :func:`svae_tts.boundary.item_boundary`) with its reason and keeps going,
and writes ``<command>_report.json`` beside its outputs. The output folder must be new, empty or
an earlier output of the same job, whose manifest (:class:`svae_tts.fileio.OutputManifest`) lists
the files it wrote: ``overwrite=True`` replaces only those, never a file someone else put there.
When every file fails nothing is left behind and :class:`svae_tts.errors.NothingDone` is raised.

Latent files are safetensors with one tensor ``latents`` ``(T, D)`` float32 and string metadata:
``model`` (dir or hub id), ``frame_rate``, ``sample_rate``, ``latent_dim``, ``num_samples``
(length of the source audio at the model rate, so decoding restores the exact length),
``mode`` (``mean`` or ``sample``), ``padding`` (``margin`` or ``release``, see
:meth:`~vae.model.SemanticVAE.encode_clips`) and ``source`` (the audio path). ``encode_files(npy=True)``
writes the release's layout instead, what its ``scripts/extract_latent.py`` saves: one ``.npy`` per
file, ``(1, D, T)`` float32, no metadata (``decode`` reads the safetensors files only).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors import safe_open
from tqdm import tqdm

from svae_tts.audio import list_audio_files, load_audio, save_audio
from svae_tts.boundary import item_boundary
from svae_tts.checkpoint import save_state_dict
from svae_tts.errors import SvaeError, exc_summary, nothing_done
from svae_tts.fileio import (OutputManifest, atomic_path, atomic_write_json, guard_output, make_output_dir,
                             remove_created_dir)
from vae.model import ENCODE_PADDINGS, RELEASE_SEED, SemanticVAE, VAEError

log = logging.getLogger(__name__)

LATENT_KEY = "latents"
LATENT_SUFFIX = ".safetensors"
NPY_SUFFIX = ".npy"


@dataclass
class FileJobReport:
    """What a batch job did. ``failed``/``existing`` entries are ``{"path", "reason"}``."""

    command: str
    model: str
    out_dir: str
    written: list[str] = field(default_factory=list)
    existing: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    @property
    def skipped(self) -> list[dict]:
        return self.existing + self.failed

    def summary(self) -> str:
        """The counts in one line (the skipped items and their reasons go to stderr, see the CLI)."""
        return (f"{self.command}: {len(self.written)} written, {len(self.existing)} already present "
                f"(kept; --overwrite replaces), {len(self.failed)} failed")

    def write(self) -> Path:
        path = Path(self.out_dir) / f"{self.command}_report.json"
        atomic_write_json(path, {**asdict(self), "skipped": self.skipped})
        return path


# -- model and file helpers -------------------------------------------------------------------------
def _pairs(inputs: Iterable[str | os.PathLike], out_dir: Path, suffix: str,
           exts: tuple[str, ...] | None) -> list[tuple[Path, Path]]:
    """(input file, output file); a folder's files keep their relative paths under ``out_dir``."""
    pairs = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files = list_audio_files(item, exts) if exts else list_audio_files(item)
            pairs += [(f, out_dir / f.relative_to(item).with_suffix(suffix)) for f in files]
        elif item.is_file():
            pairs.append((item, out_dir / (item.stem + suffix)))
        else:
            raise SvaeError(f"{item}: no such file or folder")
    if not pairs:
        raise SvaeError(f"no input files found in {', '.join(map(str, inputs))}")
    clash = [str(i) for i, o in pairs if o.resolve() == i.resolve()]
    if clash:
        raise SvaeError(f"output would replace its own input: {', '.join(clash[:4])} (choose another output folder)")
    counts = Counter(o for _, o in pairs)
    dupes = sorted(str(o) for o, n in counts.items() if n > 1)
    if dupes:
        raise SvaeError(f"several inputs would write the same output: {', '.join(dupes[:4])}")
    return pairs


def save_latents(path: str | os.PathLike, latents: torch.Tensor, vae: SemanticVAE, num_samples: int,
                 mode: str, source: str = "", padding: str = "margin") -> None:
    meta = {"model": getattr(vae, "source", vae.config.name), "frame_rate": vae.frame_rate,
            "sample_rate": vae.sample_rate, "latent_dim": vae.latent_dim, "num_samples": num_samples,
            "mode": mode, "padding": padding, "source": source}
    with atomic_path(path) as tmp:
        save_state_dict({LATENT_KEY: latents.float().cpu()}, tmp, metadata=meta)


def load_latents(path: str | os.PathLike) -> tuple[torch.Tensor, dict[str, str]]:
    """``(latents (T, D), metadata)``; raises :class:`VAEError` naming the file."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if LATENT_KEY not in f.keys():
                raise VAEError(f"{path}: no {LATENT_KEY!r} tensor (not a latent file)")
            # own the memory: the returned tensor must not change if the file is later replaced
            latents = f.get_tensor(LATENT_KEY).to(torch.float32, copy=True)
    except VAEError:
        raise
    except Exception as exc:
        raise VAEError(f"{path}: unreadable latent file ({exc_summary(exc, 160)})") from None
    if latents.dim() != 2 or latents.shape[0] == 0:
        raise VAEError(f"{path}: latents must be (T, D) with T > 0, got {tuple(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise VAEError(f"{path}: latents have non-finite values")
    _check_meta_numbers(path, meta)
    return latents, meta


def _check_meta_numbers(path, meta: dict[str, str]) -> None:
    """The numeric metadata decoding relies on must parse: ``frame_rate`` a positive number,
    ``num_samples`` a non-negative integer (both optional; a file from elsewhere may lack them)."""
    rate = meta.get("frame_rate")
    if rate is not None:
        try:
            ok = math.isfinite(float(rate)) and float(rate) > 0
        except ValueError:
            ok = False
        if not ok:
            raise VAEError(f"{path}: metadata frame_rate {rate!r} is not a positive number")
    n = meta.get("num_samples")
    if n is not None and not n.strip().isdigit():
        raise VAEError(f"{path}: metadata num_samples {n!r} is not a whole number of samples")


def _check_latents_fit(path: Path, latents: torch.Tensor, meta: dict, vae: SemanticVAE) -> None:
    if latents.shape[1] != vae.latent_dim:
        raise VAEError(f"{path}: latent dim {latents.shape[1]} != model latent dim {vae.latent_dim}")
    if "frame_rate" in meta and abs(float(meta["frame_rate"]) - vae.frame_rate) > 1e-6:
        raise VAEError(f"{path}: latents at {meta['frame_rate']} frames/s, model at {vae.frame_rate}")
    model = getattr(vae, "source", None)
    if meta.get("model") and model and meta["model"] != model:
        log.warning("%s: encoded with %s, decoding with %s", path, meta["model"], model)


# -- the jobs ----------------------------------------------------------------------------------------
JOB_SUFFIXES = {"encode": (LATENT_SUFFIX, None), "decode": (".wav", (LATENT_SUFFIX,)), "reconstruct": (".wav", None)}


@dataclass
class JobPlan:
    """What a job will do, known before any model loads: ``(input, output)`` pairs, the outputs an
    earlier run of the same command left (kept unless ``overwrite``) and the folder's manifest."""

    command: str
    out_dir: Path
    pairs: list[tuple[Path, Path]]
    present: set[Path]
    manifest: OutputManifest


def plan_job(command: str, inputs, out_dir, overwrite: bool = False, model: str | None = None,
             npy: bool = False) -> JobPlan:
    """Every check of a file job that needs no model (:class:`SvaeError`, one line, before any work):
    the inputs exist and map to distinct outputs, the output folder is new, empty or an earlier
    output of ``vae {command}`` (:func:`svae_tts.fileio.guard_output`), and no output name is taken
    by a file that job did not write (:meth:`OutputManifest.existing`), so ``overwrite`` replaces
    only the job's own files. ``npy``: ``encode`` writes the release's ``.npy`` files."""
    suffix, exts = JOB_SUFFIXES[command]
    suffix = NPY_SUFFIX if npy and command == "encode" else suffix
    out_dir = Path(out_dir)
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    guard_output(out_dir, [*inputs, model], overwrite=overwrite, exists_ok=True, command=f"vae {command}")
    pairs = _pairs(inputs, out_dir, suffix, exts)
    manifest = OutputManifest.of(out_dir)
    # present outputs: all the job's own (a user's file by an output's or the report's name is refused)
    present = manifest.existing(f"vae {command}", [*(dst for _, dst in pairs), out_dir / f"{command}_report.json"])
    return JobPlan(command, out_dir, pairs, present, manifest)


def _run(command: str, vae: SemanticVAE, inputs, out_dir, overwrite: bool, progress: bool,
         work: Callable[[Path, Path], None], npy: bool = False) -> FileJobReport:
    """Run ``work(src, dst)`` per pair of :func:`plan_job`; each written file goes into the folder's
    manifest as it is written. When every item fails nothing is left behind (a folder the job
    created is removed, no report is written) and :class:`NothingDone` says why in one line."""
    plan = plan_job(command, inputs, out_dir, overwrite, getattr(vae, "source", None), npy)
    created = make_output_dir(plan.out_dir)
    plan.manifest.claim(f"vae {command}")
    report = FileJobReport(command, str(getattr(vae, "source", vae.config.name)), str(plan.out_dir))
    for src, dst in tqdm(plan.pairs, desc=f"vae {command}", unit="file", disable=not progress):
        if dst in plan.present and not overwrite:
            report.existing.append({"path": str(src), "reason": f"output {dst} exists"})
            continue
        with item_boundary(str(src), log) as item, torch.inference_mode():
            work(src, dst)
        if item.failed:
            report.failed.append({"path": str(src), "reason": item.reason})
            continue
        plan.manifest.add(f"vae {command}", dst)
        report.written.append(str(dst))
    if report.failed and not report.written and not report.existing:
        remove_created_dir(created)
        raise nothing_done(f"vae {command}", [(f["path"], f["reason"]) for f in report.failed])
    plan.manifest.add(f"vae {command}", report.write())
    return report


def _device(vae: SemanticVAE) -> torch.device:
    return next(vae.parameters()).device


def _sampling_generator(vae: SemanticVAE, use_mean: bool, seed: int | None) -> torch.Generator | None:
    """The latent-noise generator of a ``use_mean=False`` job: seeded when asked, else from OS
    entropy (``Generator.seed()``, which leaves torch's global RNG alone)."""
    if use_mean:
        return None
    generator = torch.Generator(device=_device(vae))
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _encode_one(vae: SemanticVAE, src: Path, use_mean: bool, generator: torch.Generator | None,
                padding: str = "margin"):
    wav, _ = load_audio(src, vae.sample_rate)
    return wav, vae.encode_clips([wav], sample=not use_mean, generator=generator, padding=padding)[0]


def _save_npy(path: Path, latents: torch.Tensor) -> None:
    """``(T, D)`` latents as the release's script saves them: ``(1, D, T)`` float32 ``.npy``."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, latents.T[None].float().numpy())


def encode_files(vae: SemanticVAE, inputs, out_dir, use_mean: bool = True, seed: int | None = None,
                 overwrite: bool = False, progress: bool = True, padding: str = "margin",
                 npy: bool = False) -> FileJobReport:
    """Audio files/folders -> latent safetensors files (posterior mean, or a sample when
    ``use_mean=False``; ``seed`` makes sampling repeatable), or the release's ``.npy`` files with ``npy``.

    ``padding="release"`` encodes as the release's ``scripts/extract_latent.py`` does (hop padding,
    one file at a time; :meth:`~vae.model.SemanticVAE.encode_clips`), and samples as its single
    process does: one noise stream seeded ``seed`` (default 42, its ``--global_seed``), file after
    file in sorted path order (the script's order is its file search's, which this does not copy).
    Equal latents need equal waveforms: a file at another rate is resampled here with torchaudio and
    by the script with julius (through audiotools), which can differ (by one sample of length at 24 kHz)."""
    if padding not in ENCODE_PADDINGS:
        raise VAEError(f"encode padding must be one of {', '.join(ENCODE_PADDINGS)}, got {padding!r}")
    if padding == "release" and not use_mean and seed is None:
        seed = RELEASE_SEED
    generator = _sampling_generator(vae, use_mean, seed)

    def work(src: Path, dst: Path) -> None:
        wav, latents = _encode_one(vae, src, use_mean, generator, padding)
        if npy:
            _save_npy(dst, latents)
        else:
            save_latents(dst, latents, vae, wav.shape[-1], "mean" if use_mean else "sample", str(src), padding)

    return _run("encode", vae, inputs, out_dir, overwrite, progress, work, npy=npy)


def decode_files(vae: SemanticVAE, inputs, out_dir, overwrite: bool = False, progress: bool = True) -> FileJobReport:
    """Latent files/folders -> wav files at the model rate, trimmed to the encoded length."""
    def work(src: Path, dst: Path) -> None:
        latents, meta = load_latents(src)
        _check_latents_fit(src, latents, meta, vae)
        length = int(meta["num_samples"]) if meta.get("num_samples") is not None else None
        wav = vae.decode(latents[None].to(_device(vae)), length)[0]
        save_audio(dst, wav.cpu(), vae.sample_rate, overwrite=True)

    return _run("decode", vae, inputs, out_dir, overwrite, progress, work)


def reconstruct_files(vae: SemanticVAE, inputs, out_dir, use_mean: bool = True, seed: int | None = None,
                      overwrite: bool = False, progress: bool = True) -> FileJobReport:
    """Audio -> latents -> audio (at the model rate, same length): hear what the VAE keeps."""
    generator = _sampling_generator(vae, use_mean, seed)

    def work(src: Path, dst: Path) -> None:
        wav, latents = _encode_one(vae, src, use_mean, generator)
        out = vae.decode(latents[None].to(_device(vae)), wav.shape[-1])[0]
        save_audio(dst, out.cpu(), vae.sample_rate, overwrite=True)

    return _run("reconstruct", vae, inputs, out_dir, overwrite, progress, work)


__all__ = ["FileJobReport", "JobPlan", "plan_job", "save_latents", "load_latents", "encode_files",
           "decode_files", "reconstruct_files"]
