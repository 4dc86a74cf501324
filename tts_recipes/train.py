"""Train F5-TTS's flow-matching DiT on a feature space: ``accelerate launch -m svae_tts tts train --config ...``
(``python -m tts_recipes.train`` is an alias of ``svae-tts tts train``).

Run dir (contract with ``eval``): ``config.yaml`` (effective config), ``vocab.json``,
``checkpoints/step_XXXXXXXX/`` (model, optimiser and RNG through accelerate; EMA, scheduler and
sampler position as JSON + safetensors; written by :mod:`svae_tts.run_state` under a temporary name
then swapped in, and refused on resume if any file in it would need full unpickling; the last
``keep_last`` kept), ``exports/step_XXXXXXXX/`` (TTS model dirs with EMA weights, one per
checkpoint: a resumed run first writes the one a crash kept it from writing), ``tb/`` (TensorBoard
loss/lr/audio), ``samples/step_XXXXXXXX/``, and for a fine-tune (``init_from``) ``finetune.json``
(what it took from its base: :mod:`tts_recipes.finetune`).

Exact resume: everything random is seeded, the DataLoader gets its own generator (so building it
does not draw from the global RNG), the sampler's epoch and position are checkpointed, and
accelerate restores the Python/NumPy/torch RNG states, so a resumed run repeats the losses of an
uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union

import torch
from torch.utils.data import DataLoader

from svae_tts.config import Checked, load_config, nonneg, positive
from svae_tts.errors import CheckpointError, ConfigError, exc_summary
from svae_tts.fileio import atomic_write_json
from svae_tts.run_state import step_name
from svae_tts.train_cli import preset_or_path
from svae_tts.train_settings import OptimSettings, RunSettings
from svae_tts.trainer import RunDirTrainer, TrainState
from tts_recipes.data import AudioTTSDataset, Collator, LatentTTSDataset, make_batches
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import DEFAULT_VOCOS, FeatureSpace, LatentFeatureSpace, MelFeatureSpace
from tts_recipes.finetune import (StartPoint, check_layout, extend_vocabulary, init_weights, match_feature_space,
                                  merge_architecture, start_point, write_record)
from tts_recipes.model import CFMConfig, DiTConfig, TTSConfig, TTSModel
from tts_recipes.text import TextInput, Vocabulary

log = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class DataConfig(Checked):
    feature: Literal["latent", "mel"] = "latent"
    latent_set: Optional[str] = None  # data_prep latent set dir (latent space)
    corpus: Optional[str] = None  # data_prep corpus dir (mel space, or latent space encoded on the fly)
    vae: Optional[str] = None  # VAE dir/hub id: overrides the latent set's record (e.g. after moving it)
    vocos: str = DEFAULT_VOCOS  # Vocos dir or hub id for the mel space
    text_input: TextInput = "characters"  # phonemes: eSpeak's IPA of each row's text
    phoneme_voice: str = "en-us"  # the eSpeak voice that phonemises, in training and at synthesis
    frames_per_batch: int = positive(38400)
    max_samples: int = positive(64)
    min_frames: int = nonneg(1)
    max_frames: int = nonneg(0)  # 0 = no limit
    max_utterances: int = nonneg(0)  # use only the first N training utterances (0 = all); e.g. 1 to overfit one
    num_workers: int = nonneg(0)

    ORDERED = (("min_frames", "max_frames", 0),)


@dataclass
class OptimConfig(OptimSettings):
    """F5-TTS's optimiser: AdamW 7.5e-5 with a linear warm-up and a linear decay to 0."""

    lr: float = positive(7.5e-5)
    warmup_steps: int = nonneg(20000)
    decay_steps: Optional[int] = positive(None)  # LR reaches 0 here; None = ``max_steps``


@dataclass
class TrainConfig(RunSettings):
    """The run settings (budget, checkpoints, resume ...) are :class:`svae_tts.train_settings.RunSettings`'."""

    name: str = "tts"
    run_dir: str = "runs/tts"
    model: DiTConfig = field(default_factory=DiTConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log_every: int = nonneg(100)  # 0 = never
    sample_every: int = nonneg(0)  # 0 = never
    num_samples: int = nonneg(2)
    sample_nfe: int = positive(16)
    sample_cfg: float = nonneg(2.0)
    resume: Optional[Union[bool, str]] = "auto"  # continue from the newest checkpoint in run_dir when there is one
    # fine-tune: start from this exported TTS model (dir or hub id): its weights and architecture, a
    # fresh optimiser and schedule at step 0; not read again on resume (tts_recipes/finetune.py)
    init_from: Optional[str] = None


def load_train_config(config: str | os.PathLike, overrides: list[str] | None = None) -> TrainConfig:
    """A preset name (``tiny``, ``mini``, ``small``, ``base``) or a YAML path, with ``key=value`` overrides."""
    return load_config(TrainConfig, preset_or_path(str(config), PRESETS_DIR), overrides)


# -- pieces ---------------------------------------------------------------------------------------
class SamplerState(TrainState):
    """Step and sampler position (epoch, batches of it done), checkpointed as JSON by :mod:`svae_tts.run_state`."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.batch_in_epoch = 0

    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.epoch, self.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])


def build_data(cfg: DataConfig, start: StartPoint | None = None):
    """-> (feature space, train dataset, held-out dataset or None). ``start``: the base model of a
    fine-tune, whose feature space the data must be in and whose latent statistics normalise them
    (checked before any utterance is read)."""
    from svae_tts.formats.corpus import load_corpus, validation_split
    from svae_tts.formats.latent_set import load_latent_set

    if cfg.latent_set:
        if cfg.feature != "latent":
            raise ConfigError(f"data.latent_set is given but data.feature is {cfg.feature!r}; use feature=latent")
        ls = load_latent_set(cfg.latent_set)
        space = LatentFeatureSpace.from_latent_set(cfg.latent_set, ls, cfg.vae)
        make = lambda split: LatentTTSDataset.from_split(split, space, cfg.min_frames, cfg.max_frames,  # noqa: E731
                                                         cfg.text_input, cfg.phoneme_voice)
        dsd = ls.dataset
    elif cfg.corpus:
        dsd = load_corpus(cfg.corpus)
        if cfg.feature == "mel":
            space = MelFeatureSpace(cfg.vocos, source="data.vocos")
        else:
            raise ConfigError("a latent feature space needs data.latent_set (its normalisation statistics); "
                              "make one with data_prep, or use data.feature=mel with a corpus")
        make = lambda split: AudioTTSDataset(split, space, cfg.min_frames, cfg.max_frames,  # noqa: E731
                                             cfg.text_input, cfg.phoneme_voice)
    else:
        raise ConfigError("set data.latent_set (latent space) or data.corpus (mel space)")
    if start is not None:
        match_feature_space(start.config.feature, space, start.source)
    train = dsd.get("train")
    if train is None:
        raise TTSError("the training data has no 'train' split")
    if cfg.max_utterances:
        train = train.select(range(min(cfg.max_utterances, len(train))))
    train_ds = make(train)
    if len(train_ds) == 0:
        raise TTSError("no usable training utterance (all dropped: see the warnings above)")
    valid = dsd.get(validation_split(dsd))  # dev when there is one: test stays unseen until it reports
    valid_ds = make(valid) if valid is not None and len(valid) else None
    return space, train_ds, valid_ds


def text_layout(cfg: TrainConfig) -> dict:
    """What the vocabulary's symbols mean and how they meet the frames: a resumed run must keep it,
    since none of it changes a weight's shape and a change would go unnoticed."""
    return {"text_input": cfg.data.text_input, "phoneme_voice": cfg.data.phoneme_voice,
            "text_average_upsampling": cfg.model.text_average_upsampling}


def _read_vocab(path: Path, layout: dict | None = None) -> Vocabulary:
    """The vocabulary a resumed run trained with (its order fixes the model's embedding rows); the
    text layout it was trained with must equal ``layout`` (a run dir from before the layout was
    recorded used F5-TTS's filler padding over characters)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        chars = saved["chars"]
        if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
            raise TypeError("'chars' is not a list of strings")
        vocab = Vocabulary(chars)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, TTSError) as exc:
        raise CheckpointError(f"{path}: not a vocabulary this run can resume with ({exc_summary(exc, 120)})") from None
    if layout is not None:
        before = {"text_input": "characters", "phoneme_voice": "en-us", "text_average_upsampling": False,
                  **saved.get("layout", {})}
        changed = [k for k in layout if before.get(k) != layout[k]]
        if changed:
            k = changed[0]
            raise ConfigError(f"{path.parent}: this run was trained with {k}={before.get(k)!r}, not {layout[k]!r}; "
                              "keep it to resume, or start a new run (overwrite=true or another run_dir)")
    return vocab


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


# -- the trainer ----------------------------------------------------------------------------------
class TTSTrainer(RunDirTrainer):
    """CFM + DiT with EMA on one feature space; the loop, run dir and checkpoints are the scaffold's."""

    name = "tts train"
    error = TTSError

    def __init__(self, cfg: TrainConfig, accelerator=None):
        from ema_pytorch import EMA
        from transformers import get_linear_schedule_with_warmup

        d = cfg.data
        super().__init__(cfg, [d.latent_set, d.corpus, d.vae, d.vocos, cfg.init_from], accelerator,
                         state=SamplerState())
        self.start = start_point(cfg.init_from, self.run_dir, resuming=self.resume_from is not None)
        if self.start is not None:  # a fine-tune: the base's architecture and text layout
            cfg = self.cfg = dataclasses.replace(cfg, model=merge_architecture(cfg.model, self.start.config.dit,
                                                                               self.start.source))
            check_layout(self.start.config, text_layout(cfg), self.start.source)
        self.space, self.train_ds, self.valid_ds = build_data(d, self.start)
        self.space.to(self.device)
        self.vocab = self._vocabulary()
        model = TTSModel(TTSConfig(dit=cfg.model, cfm=cfg.cfm, feature=self.space.to_config(), vocab=self.vocab.chars,
                                   text_input=d.text_input, phoneme_voice=d.phoneme_voice))
        if self.start is not None and self.start.model is not None:
            init_weights(model, self.start.model)  # before the EMA copies it and the optimiser sees it
            log.info("fine-tuning from %s: its weights, a fresh optimiser and schedule at step 0; %d new symbol(s) %s",
                     self.start.ref, len(self.vocab) - len(self.start.model.vocab),
                     "".join(self.vocab.chars[len(self.start.model.vocab):]))
            self.start.model = None  # the weights live in ``model`` now
        log.info("TTS model: %.2f M parameters on %s features (dim %d, %.2f Hz), %d training utterances",
                 model.num_parameters() / 1e6, self.space.kind, self.space.dim, self.space.frame_rate, len(self.train_ds))
        o = cfg.optim
        self.ema = EMA(model, beta=o.ema_beta, update_after_step=o.ema_update_after_step,
                       update_every=o.ema_update_every, include_online_model=False)
        self.ema.to(self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        # F5-TTS's schedule: linear warm-up to the peak, then linear decay to 0 at decay_steps
        self.scheduler = get_linear_schedule_with_warmup(optimizer, o.warmup_steps, o.decay_steps or cfg.max_steps)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.sampler = make_batches(self.train_ds, d.frames_per_batch, d.max_samples, cfg.seed)
        self.collate = Collator(self.vocab)

    def _vocabulary(self) -> Vocabulary:
        """A resumed run's own vocabulary (its order fixes the embedding rows); a fine-tune's base
        vocabulary with the new texts' symbols after it; else one built from the texts."""
        path = self.run_dir / "vocab.json"
        if self.resume_from is not None and path.is_file():
            return _read_vocab(path, text_layout(self.cfg))
        if self.start is not None:
            return extend_vocabulary(Vocabulary(self.start.config.vocab), self.train_ds.texts)
        return Vocabulary.build(self.train_ds.texts)

    def on_start(self, resumed) -> None:
        if self.acc.is_main_process:
            atomic_write_json(self.run_dir / "vocab.json",
                              {"chars": self.vocab.chars, "unk_id": 0, "layout": text_layout(self.cfg)})
            if self.start is not None and resumed is None:
                write_record(self.run_dir, self.start)

    def trainer_state(self) -> dict:
        return {"scheduler": self.scheduler, "ema": self.ema}  # JSON + safetensors, never pickled

    def batches(self):
        """This process's share of each epoch's length-bucketed batches, from the checkpointed position."""
        n_proc, rank, state = self.acc.num_processes, self.acc.process_index, self.state
        while True:
            self.sampler.set_epoch(state.epoch)
            batches = list(self.sampler)
            batches = batches[: len(batches) - len(batches) % n_proc] if n_proc > 1 else batches
            if not batches:  # else this loop would never yield
                raise TTSError(f"{n_proc} processes but an epoch holds fewer batches; lower data.frames_per_batch")
            mine = batches[rank::n_proc][state.batch_in_epoch:]
            yield from DataLoader(self.train_ds, batch_sampler=mine, collate_fn=self.collate,
                                  num_workers=self.cfg.data.num_workers,
                                  generator=torch.Generator().manual_seed(self.cfg.seed))
            state.epoch += 1
            state.batch_in_epoch = 0

    def train_step(self, batch: dict) -> dict[str, float]:
        dev = self.device
        self.model.train()
        loss = self.model(batch["feats"].to(dev), batch["text_ids"].to(dev), batch["lens"].to(dev))
        self.acc.backward(loss)
        self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)  # grad_clip > 0 (its range)
        loss_v = self.acc.reduce(loss.detach(), reduction="mean")
        self.check_finite({"loss": loss_v})
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update()
        self.state.batch_in_epoch += 1
        return {"loss": loss_v.item(), "lr": self.scheduler.get_last_lr()[0]}

    def after_step(self, step: int) -> None:
        super().after_step(step)
        if self.cfg.sample_every and step % self.cfg.sample_every == 0 and self.acc.is_main_process:
            _log_samples(self.ema.ema_model, self.space, self.valid_ds or self.train_ds, self.cfg, self.run_dir, step,
                         self.writer, self.device)

    def write_export(self, out: Path) -> None:
        """The EMA model as a TTS model dir (an atomic dir: one that exists is complete)."""
        self.ema.ema_model.save_pretrained(out, overwrite=True, card=self.card_facts())


def train(cfg: TrainConfig) -> dict:
    """Train (or resume) a TTS model; returns ``{"run_dir", "step", "losses": {step: loss}, "s_per_step", ...}``."""
    trainer = TTSTrainer(cfg)
    trainer.run()
    done = len(trainer.history)
    first = trainer.state.step - done
    return {"run_dir": str(trainer.run_dir), "step": trainer.state.step,
            "losses": {first + i + 1: h["loss"] for i, h in enumerate(trainer.history)},
            "exports": [str(p) for p in trainer.exports], "s_per_step": trainer.elapsed / done if done else float("nan"),
            "vocab_size": len(trainer.vocab), "num_parameters": trainer.acc.unwrap_model(trainer.model).num_parameters()}


def main(argv: list[str] | None = None) -> int:
    """``python -m tts_recipes.train ARGS``: an alias of ``svae-tts tts train ARGS`` (the same parser,
    options and function), kept so that existing commands and docs keep working."""
    from svae_tts.cli import main as cli_main

    return cli_main(["tts", "train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
