"""Teacher features: hidden states of a ``transformers`` speech encoder, per utterance, on disk.

Output (the contract read by VAE training): a folder of ``shard-*.safetensors`` holding one
``(T, C)`` tensor per utterance id, and ``features.json`` = {teacher, layer, frame_rate, width,
sample_rate, dtype}. Frame rate and width come from the teacher's config (conv strides, hidden
size), never assumed. Resumable and shardable across ``accelerate launch`` processes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from data_prep.corpus import REPORT_FILE, load_corpus, write_report
from data_prep.errors import DataError, exc_summary
from data_prep.shards import encode_into_shards, read_skip_reports, shard_index, start_job
from svae_tts.fileio import atomic_path, guard_output
from svae_tts.textio import read_json

log = logging.getLogger(__name__)

META_FILE = "features.json"


def conv_output_length(n: int | torch.Tensor, kernels, strides):
    """Frames out of a wav2vec2-style conv stack (no padding) for ``n`` samples."""
    for k, s in zip(kernels, strides):
        n = (n - k) // s + 1
    return n


@dataclass
class Teacher:
    """A loaded teacher with the numbers needed to line its frames up with audio."""

    model: torch.nn.Module
    ref: str
    sample_rate: int
    frame_rate: float
    width: int
    use_attention_mask: bool
    do_normalize: bool
    kernels: tuple
    strides: tuple

    def num_frames(self, num_samples: int) -> int:
        return int(conv_output_length(int(num_samples), self.kernels, self.strides))


def load_teacher(ref: str | os.PathLike, device: str | torch.device = "cpu", sample_rate: int | None = None) -> Teacher:
    """Any ``transformers`` audio encoder with a wav2vec2-style conv front end (WavLM, HuBERT...);
    ``sample_rate`` only for teachers whose configs do not say."""
    from transformers import AutoConfig, AutoModel

    ref = str(ref)
    try:
        config = AutoConfig.from_pretrained(ref)
        model = AutoModel.from_pretrained(ref)
    except Exception as exc:
        raise DataError(f"teacher {ref}: cannot load ({exc_summary(exc)}); "
                        "give a local model directory or, when online, a hub id such as microsoft/wavlm-large") from None
    strides = tuple(getattr(config, "conv_stride", ()) or ())
    kernels = tuple(getattr(config, "conv_kernel", ()) or ())
    if not strides or len(strides) != len(kernels):
        raise DataError(f"teacher {ref}: config has no conv_stride/conv_kernel (not a wav2vec2-style speech encoder)")
    from vae.teacher import TeacherError, teacher_input_settings  # the trainer's reading, so features match it

    try:
        sample_rate, do_norm, use_mask = teacher_input_settings(ref, config, sample_rate)
    except TeacherError as exc:
        raise DataError(str(exc)) from None
    model.eval().to(device)
    return Teacher(model, ref, sample_rate, sample_rate / math.prod(strides), int(config.hidden_size),
                   use_mask, do_norm, kernels, strides)


def padded_batch(wavs: list[torch.Tensor], normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, N)`` batch and its attention mask, each wav zero-mean/unit-variance when
    ``normalize`` (what a wav2vec2 feature extractor does)."""
    n = max(int(w.shape[0]) for w in wavs)
    batch = torch.zeros(len(wavs), n)
    mask = torch.zeros(len(wavs), n, dtype=torch.long)
    for i, w in enumerate(wavs):
        w = w.float()
        if normalize:
            w = (w - w.mean()) / torch.sqrt(w.var(unbiased=False) + 1e-7)
        batch[i, : w.shape[0]] = w
        mask[i, : w.shape[0]] = 1
    return batch, mask


@torch.no_grad()
def teacher_forward(teacher: Teacher, wavs: list[torch.Tensor], layer: int) -> list[torch.Tensor]:
    """Hidden states ``(T_i, C)`` of ``layer`` (an index into ``hidden_states``) for each wav.

    Padding is masked (``attention_mask``) and each output trimmed to the frames its own samples
    make. Teachers without mask support (group-norm front ends) see one utterance at a time,
    because padding would change their outputs.
    """
    if not teacher.use_attention_mask and len(wavs) > 1:
        return [t for w in wavs for t in teacher_forward(teacher, [w], layer)]
    device = next(teacher.model.parameters()).device
    lengths = [int(w.shape[0]) for w in wavs]
    batch, mask = padded_batch(wavs, teacher.do_normalize)
    kwargs = {"attention_mask": mask.to(device)} if teacher.use_attention_mask else {}
    out = teacher.model(batch.to(device), output_hidden_states=True, **kwargs)
    hs = out.hidden_states
    try:
        h = hs[layer]
    except IndexError:
        raise DataError(f"teacher {teacher.ref}: layer {layer} out of range ({len(hs)} hidden states, "
                        f"valid -{len(hs)}..{len(hs) - 1})") from None
    return [h[i, : min(teacher.num_frames(lengths[i]), h.shape[1])].float().cpu() for i in range(len(wavs))]


def corpus_rows(corpus_dir: str | os.PathLike, splits: list[str] | None = None) -> list[dict]:
    dd = load_corpus(corpus_dir)
    names = splits or list(dd)
    rows = []
    for name in names:
        if name not in dd:
            raise DataError(f"{corpus_dir}: no split {name!r} (has {list(dd)})")
        keep = [c for c in ("id", "audio", "text", "speaker", "duration", "phonemes") if c in dd[name].column_names]
        for r in dd[name].select_columns(keep):
            r["split"] = name
            rows.append(r)
    return rows


def _accelerator(accelerator):
    if accelerator is not None:
        return accelerator
    from accelerate import Accelerator

    return Accelerator()


def extract_features(
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    teacher: str,
    layer: int = -1,
    batch_size: int = 8,
    max_batch_seconds: float | None = 160.0,
    shard_size: int = 256,
    splits: list[str] | None = None,
    dtype: str = "float32",
    accelerator=None,
) -> Path:
    """Extract ``layer`` of ``teacher`` for every utterance of the corpus into ``out_dir``.

    Re-running continues where a previous run stopped; under ``accelerate launch`` every process
    takes its own share. Unreadable audio is skipped and listed in ``skipped.jsonl`` (one line
    per id, however often the job was re-run). ``out_dir`` may not overlap the corpus, its audio or
    the teacher, and an existing non-empty one must be a features folder (checked before any work).
    """
    if dtype not in ("float32", "float16"):
        raise DataError(f"features dtype {dtype!r}: use float32 or float16")
    acc = _accelerator(accelerator)
    out_dir = Path(out_dir)
    rows = corpus_rows(corpus_dir, splits)
    guard_output(out_dir, [corpus_dir, teacher, *(r["audio"] for r in rows)], exists_ok=True,
                 markers=(META_FILE,), what="teacher-features folder")
    t = load_teacher(teacher, acc.device)
    meta = {"teacher": str(teacher), "layer": layer, "frame_rate": t.frame_rate, "width": t.width,
            "sample_rate": t.sample_rate, "dtype": dtype, "corpus": str(Path(corpus_dir).resolve())}
    meta_path = out_dir / META_FILE
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        for k in ("teacher", "layer", "width"):
            if old.get(k) != meta[k]:
                raise DataError(f"{out_dir}: holds features of {k}={old.get(k)!r}, not {meta[k]!r}; use another folder")
    mine = start_job(rows, out_dir, acc, meta_path, meta, "features")
    torch_dtype = getattr(torch, dtype)
    encode_into_shards(mine, out_dir, lambda wavs: [h.to(torch_dtype) for h in teacher_forward(t, wavs, layer)],
                       t.sample_rate, acc.process_index, batch_size, max_batch_seconds, shard_size,
                       {"teacher": teacher, "layer": layer}, "features", acc.is_local_main_process)
    acc.wait_for_everyone()
    if acc.is_main_process:
        with atomic_path(out_dir / REPORT_FILE) as tmp:
            write_report(tmp, read_skip_reports(out_dir, done=set(shard_index(out_dir))))
    acc.wait_for_everyone()
    return out_dir


class FeatureStore:
    """Read access to a features folder: ``store.get(id) -> (T, C)`` float32 tensor."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        meta = self.folder / META_FILE
        if not meta.is_file():
            raise DataError(f"{self.folder}: not a teacher-features folder (no {META_FILE})")
        self.info = read_json(meta, dict, error=DataError)  # a shared features folder is user input
        self.frame_rate = float(self.info["frame_rate"])
        self.width = int(self.info["width"])
        self.teacher = self.info.get("teacher")
        self.layer = self.info.get("layer")
        self._index = shard_index(self.folder)
        self._open: dict[Path, object] = {}

    def __contains__(self, uid: str) -> bool:
        return uid in self._index

    def __len__(self) -> int:
        return len(self._index)

    def ids(self) -> list[str]:
        return sorted(self._index)

    def get(self, uid: str) -> torch.Tensor:
        path = self._index.get(uid)
        if path is None:
            raise DataError(f"{self.folder}: no teacher features for utterance {uid!r} (re-run `svae-tts data features`)")
        from safetensors import safe_open

        handle = self._open.get(path)
        if handle is None:
            handle = self._open[path] = safe_open(str(path), framework="pt")
        return handle.get_tensor(uid).float()
