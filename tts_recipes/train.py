"""Train F5-TTS's flow-matching DiT on a feature space: ``accelerate launch -m tts_recipes.train --config ...``.

Run dir (contract with ``eval``): ``config.yaml`` (effective config), ``vocab.json``,
``checkpoints/step_XXXXXXXX/`` (model, optimiser and RNG through accelerate; EMA, scheduler and
sampler position as JSON + safetensors; written by :mod:`svae_tts.run_state` under a temporary name
then swapped in, and refused on resume if any file in it would need full unpickling; the last
``keep_last`` kept), ``exports/step_XXXXXXXX/`` (TTS model dirs with EMA weights, one per
checkpoint: a resumed run first writes the one a crash kept it from writing), ``tb/`` (TensorBoard
loss/lr/audio), ``samples/step_XXXXXXXX/``.

Exact resume: everything random is seeded, the DataLoader gets its own generator (so building it
does not draw from the global RNG), the sampler's epoch and position are checkpointed, and
accelerate restores the Python/NumPy/torch RNG states, so a resumed run repeats the losses of an
uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import torch
from torch.utils.data import DataLoader

from svae_tts.cli import run_reporting_errors
from svae_tts.config import Checked, in_range, load_config, nonneg, positive, ranged, save_config, seed_field
from svae_tts.errors import CheckpointError, ConfigError, OutputExistsError, exc_summary
from svae_tts.fileio import RUN_DIR_MARKERS, atomic_write_json, guard_output
from svae_tts.run_state import (export_dir, latest_checkpoint, load_checkpoint, recover_run_dir, save_checkpoint,
                                 step_name)
from tts_recipes.data import AudioTTSDataset, Collator, LatentTTSDataset, make_batches
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import DEFAULT_VOCOS, FeatureSpace, LatentFeatureSpace, MelFeatureSpace
from tts_recipes.model import CFMConfig, DiTConfig, TTSConfig, TTSModel
from tts_recipes.text import Vocabulary

log = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class DataConfig(Checked):
    feature: Literal["latent", "mel"] = "latent"
    latent_set: Optional[str] = None  # data_prep latent set dir (latent space)
    corpus: Optional[str] = None  # data_prep corpus dir (mel space, or latent space encoded on the fly)
    vae: Optional[str] = None  # VAE dir/hub id: overrides the latent set's record (e.g. after moving it)
    vocos: str = DEFAULT_VOCOS  # Vocos dir or hub id for the mel space
    frames_per_batch: int = positive(38400)
    max_samples: int = positive(64)
    min_frames: int = nonneg(1)
    max_frames: int = nonneg(0)  # 0 = no limit
    max_utterances: int = nonneg(0)  # use only the first N training utterances (0 = all); e.g. 1 to overfit one
    num_workers: int = nonneg(0)

    ORDERED = (("min_frames", "max_frames", 0),)


@dataclass
class OptimConfig(Checked):
    lr: float = positive(7.5e-5)
    betas: tuple[float, float] = ranged((0.9, 0.999), ge=0, lt=1)
    weight_decay: float = nonneg(0.01)
    warmup_steps: int = nonneg(20000)
    decay_steps: Optional[int] = positive(None)  # LR reaches 0 here; None = ``steps``
    grad_clip: float = positive(1.0)
    ema_beta: float = in_range(0.9999, 0, 1)
    ema_update_after_step: int = nonneg(100)
    ema_update_every: int = positive(10)


@dataclass
class TrainConfig(Checked):
    name: str = "tts"
    run_dir: str = "runs/tts"
    seed: int = seed_field(0)
    model: DiTConfig = field(default_factory=DiTConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = positive(1000)
    log_every: int = nonneg(100)  # 0 = never
    save_every: int = nonneg(1000)  # checkpoint + export; 0 = only at the end
    keep_last: int = positive(3)  # checkpoints kept (exports are all kept: eval walks them)
    sample_every: int = nonneg(0)  # 0 = never
    num_samples: int = nonneg(2)
    sample_nfe: int = positive(16)
    sample_cfg: float = nonneg(2.0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    resume: bool = True  # continue from the newest checkpoint in run_dir when there is one
    overwrite: bool = False  # wipe an existing run_dir instead


def load_train_config(config: str | os.PathLike, overrides: list[str] | None = None) -> TrainConfig:
    """A preset name (``tiny``, ``small``, ``base``) or a YAML path, with ``key=value`` overrides."""
    path = Path(config)
    if not path.is_file() and (PRESETS_DIR / f"{config}.yaml").is_file():
        path = PRESETS_DIR / f"{config}.yaml"
    return load_config(TrainConfig, path, overrides)


# -- pieces ---------------------------------------------------------------------------------------
class TrainState:
    """Step and sampler position, checkpointed as JSON by :mod:`svae_tts.run_state`."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0

    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.epoch, self.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])


def lr_lambda(warmup: int, total: int):
    """Linear warm-up to the peak, then linear decay to 0 at ``total`` (F5-TTS's schedule)."""

    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def build_data(cfg: DataConfig):
    """-> (feature space, train dataset, held-out dataset or None)."""
    from svae_tts.formats.corpus import load_corpus
    from svae_tts.formats.latent_set import load_latent_set

    if cfg.latent_set:
        if cfg.feature != "latent":
            raise ConfigError(f"data.latent_set is given but data.feature is {cfg.feature!r}; use feature=latent")
        ls = load_latent_set(cfg.latent_set)
        space = LatentFeatureSpace.from_latent_set(cfg.latent_set, ls, cfg.vae)
        make = lambda split: LatentTTSDataset.from_split(split, space, cfg.min_frames, cfg.max_frames)  # noqa: E731
        dsd = ls.dataset
    elif cfg.corpus:
        dsd = load_corpus(cfg.corpus)
        if cfg.feature == "mel":
            space = MelFeatureSpace(cfg.vocos, source="data.vocos")
        else:
            raise ConfigError("a latent feature space needs data.latent_set (its normalisation statistics); "
                              "make one with data_prep, or use data.feature=mel with a corpus")
        make = lambda split: AudioTTSDataset(split, space, cfg.min_frames, cfg.max_frames)  # noqa: E731
    else:
        raise ConfigError("set data.latent_set (latent space) or data.corpus (mel space)")
    train = dsd.get("train")
    if train is None:
        raise TTSError("the training data has no 'train' split")
    if cfg.max_utterances:
        train = train.select(range(min(cfg.max_utterances, len(train))))
    train_ds = make(train)
    if len(train_ds) == 0:
        raise TTSError("no usable training utterance (all dropped: see the warnings above)")
    test = dsd.get("test")
    test_ds = make(test) if test is not None and len(test) else None
    return space, train_ds, test_ds


def _prepare_run_dir(cfg: TrainConfig, accelerator=None) -> tuple[Path, Path | None]:
    run_dir = guard_output(cfg.run_dir, [cfg.data.latent_set, cfg.data.corpus, cfg.data.vae, cfg.data.vocos],
                           overwrite=cfg.overwrite, exists_ok=True, markers=RUN_DIR_MARKERS, what="run dir")
    if cfg.resume and not cfg.overwrite:
        recover_run_dir(run_dir, accelerator)  # what a crash left: half-written or stranded checkpoints/exports
    resume_from = latest_checkpoint(run_dir) if cfg.resume and not cfg.overwrite else None
    if run_dir.exists() and any(run_dir.iterdir()) and resume_from is None:
        if not cfg.overwrite:
            raise OutputExistsError(f"{run_dir}: run dir exists without a checkpoint to resume; pass overwrite=true to replace it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, resume_from


def _read_vocab(path: Path) -> Vocabulary:
    """The vocabulary a resumed run trained with (its order fixes the model's embedding rows)."""
    try:
        chars = json.loads(path.read_text(encoding="utf-8"))["chars"]
        if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
            raise TypeError("'chars' is not a list of strings")
        return Vocabulary(chars)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, TTSError) as exc:
        raise CheckpointError(f"{path}: not a vocabulary this run can resume with ({exc_summary(exc, 120)})") from None


def _export(ema, run_dir: Path, step: int) -> str:
    """The EMA model as ``exports/step_X`` (an atomic dir: one that exists is complete); main process only."""
    return str(ema.ema_model.save_pretrained(export_dir(run_dir, step), overwrite=True))


@torch.no_grad()
def _log_samples(ema_model: TTSModel, space: FeatureSpace, dataset, cfg: TrainConfig, run_dir: Path, step: int,
                 writer, device) -> None:
    """Infill held-out utterances from their first 30 %: audio in TensorBoard and under samples/."""
    from svae_tts.audio import save_audio

    # CFM.sample calls torch.manual_seed, which reseeds CUDA too: fork the GPU's generator as well, or
    # after every sampling round the training noise would restart from the same state (and resume
    # from a checkpoint taken at a sampling step would diverge from the uninterrupted run).
    py_state = random.getstate()
    cuda = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        ema_model.eval()
        out_dir = run_dir / "samples" / step_name(step)
        for i in range(min(cfg.num_samples, len(dataset))):
            item = dataset[i]
            feats = item["feats"].to(device)
            total = feats.shape[0]
            prompt = max(1, int(total * 0.3))
            text = ema_model.vocab.encode([item["text"]], warn=False).to(device)
            out, _ = ema_model.cfm.sample(feats[None, :prompt], text, total, steps=cfg.sample_nfe,
                                          cfg_strength=cfg.sample_cfg, sway_sampling_coef=-1.0, seed=i)
            wav = space.decode(out[:, prompt:total])[0].float().cpu().clamp(-1, 1)
            save_audio(out_dir / f"{item['id']}.wav", wav, space.sample_rate, overwrite=True)
            if writer is not None:
                writer.add_audio(f"sample/{item['id']}", wav[None], step, sample_rate=space.sample_rate)
    random.setstate(py_state)


# -- the loop -------------------------------------------------------------------------------------
def train(cfg: TrainConfig) -> dict:
    """Train (or resume) a TTS model; returns ``{"run_dir", "step", "losses": {step: loss}, "s_per_step", ...}``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from ema_pytorch import EMA

    if cfg.steps <= 0:
        raise ConfigError(f"steps must be positive, got {cfg.steps}")
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision)
    run_dir, resume_from = _prepare_run_dir(cfg, accelerator)
    set_seed(cfg.seed)

    space, train_ds, test_ds = build_data(cfg.data)
    space.to(accelerator.device)
    vocab_path = run_dir / "vocab.json"
    if resume_from is not None and vocab_path.is_file():
        vocab = _read_vocab(vocab_path)
    else:
        vocab = Vocabulary.build(train_ds.texts)
    if accelerator.is_main_process:
        save_config(cfg, run_dir / "config.yaml")
        atomic_write_json(vocab_path, {"chars": vocab.chars, "unk_id": 0})

    model = TTSModel(TTSConfig(dit=cfg.model, cfm=cfg.cfm, feature=space.to_config(), vocab=vocab.chars))
    log.info("TTS model: %.2f M parameters on %s features (dim %d, %.2f Hz), %d training utterances",
             model.num_parameters() / 1e6, space.kind, space.dim, space.frame_rate, len(train_ds))
    ema = EMA(model, beta=cfg.optim.ema_beta, update_after_step=cfg.optim.ema_update_after_step,
              update_every=cfg.optim.ema_update_every, include_online_model=False)
    ema.to(accelerator.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                  weight_decay=cfg.optim.weight_decay)
    decay = cfg.optim.decay_steps or cfg.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.optim.warmup_steps, decay))
    model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainState()
    stateful = {"state": state, "scheduler": scheduler, "ema": ema}  # JSON + safetensors, never pickled
    exports: list[str] = []
    if resume_from is not None:
        load_checkpoint(accelerator, resume_from, stateful)
        log.info("resumed from %s (step %d)", resume_from, state.step)
        if accelerator.is_main_process and not export_dir(run_dir, state.step).is_dir():
            exports.append(_export(ema, run_dir, state.step))  # killed between that checkpoint and its export

    sampler = make_batches(train_ds, cfg.data.frames_per_batch, cfg.data.max_samples, cfg.seed)
    collate = Collator(vocab)
    writer = None
    if accelerator.is_main_process:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"))

    from tqdm import tqdm

    losses: dict[int, float] = {}
    start_step, t0 = state.step, time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=state.step, desc="tts train", disable=not accelerator.is_main_process,
               dynamic_ncols=True)
    n_proc, rank = accelerator.num_processes, accelerator.process_index
    while state.step < cfg.steps:
        sampler.set_epoch(state.epoch)
        batches = list(sampler)
        batches = batches[: len(batches) - len(batches) % n_proc] if n_proc > 1 else batches
        mine = batches[rank::n_proc][state.batch_in_epoch:]
        loader = DataLoader(train_ds, batch_sampler=mine, collate_fn=collate, num_workers=cfg.data.num_workers,
                            generator=torch.Generator().manual_seed(cfg.seed))
        for batch in loader:
            model.train()
            loss = model(batch["feats"].to(accelerator.device), batch["text_ids"].to(accelerator.device),
                         batch["lens"].to(accelerator.device))
            accelerator.backward(loss)
            if cfg.optim.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            ema.update()
            state.step += 1
            state.batch_in_epoch += 1
            loss_v = accelerator.reduce(loss.detach(), reduction="mean").item()
            if not math.isfinite(loss_v):
                raise TTSError(f"loss became {loss_v} at step {state.step}; lower optim.lr or check the data")
            losses[state.step] = loss_v
            bar.update(1)
            if writer is not None:
                writer.add_scalar("train/loss", loss_v, state.step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], state.step)
            if cfg.log_every and state.step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss_v:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            last = state.step >= cfg.steps
            if (cfg.save_every and state.step % cfg.save_every == 0) or last:
                save_checkpoint(accelerator, run_dir, state.step, stateful, cfg.keep_last)
                if accelerator.is_main_process:
                    exports.append(_export(ema, run_dir, state.step))
            if cfg.sample_every and (state.step % cfg.sample_every == 0) and accelerator.is_main_process:
                _log_samples(ema.ema_model, space, test_ds or train_ds, cfg, run_dir, state.step, writer,
                             accelerator.device)
            if last:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    if writer is not None:
        writer.close()
    elapsed = time.perf_counter() - t0
    done = state.step - start_step
    return {"run_dir": str(run_dir), "step": state.step, "losses": losses, "exports": exports,
            "s_per_step": elapsed / done if done else float("nan"), "vocab_size": len(vocab),
            "num_parameters": accelerator.unwrap_model(model).num_parameters()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tts_recipes.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="preset name (tiny, small, base) or YAML path")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.latent_set=DIR steps=500")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def run() -> None:
        result = train(load_train_config(args.config, args.overrides))
        print(f"trained to step {result['step']} in {result['run_dir']} ({result['s_per_step']:.3f} s/step)")

    return run_reporting_errors(run, prog="tts_recipes.train")


if __name__ == "__main__":
    sys.exit(main())
