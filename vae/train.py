"""GAN training of the (semantic) VAE with ``accelerate``: ``accelerate launch -m svae_tts vae train --config X``.

One step, as in the release's DAC-style trainer: the generator (VAE) reconstructs the batch; the
discriminator is updated on (real, generated.detach()); then the generator is updated with
mel ×15 + LSGAN ×1 + feature matching ×2 + KL ×0.01 + alignment ×1, the adversarial terms computed
with the freshly updated discriminator. With gradient accumulation the generator output of each
micro-batch is recomputed for the generator phase (same latent noise: it is drawn from a
generator seeded by (seed, step, micro-batch, rank)), so accumulation changes memory, not maths.

Run dir: ``config.yaml`` (effective config), ``checkpoints/step_XXXXXXXX/`` (models, optimisers and
RNG through accelerate; step, LR schedulers and EMA as JSON + safetensors; written by
:mod:`svae_tts.run_state`, which refuses any file that would need full unpickling on resume; last K
kept), ``exports/step_XXXXXXXX/`` (EMA generator as a VAE model dir + ``projector.safetensors`` +
``discriminator.safetensors``, written as one atomic dir; a resumed run first writes the export
its checkpoint's step was due, if a crash prevented it), ``tb/`` (TensorBoard).

Usage (``--config`` takes a YAML path or a name in ``vae/configs/``; ``python -m vae.train`` is an
alias of ``svae-tts vae train``)::

    accelerate launch -m svae_tts vae train --config semantic_vae data.train=CORPUS_DIR
    accelerate launch -m svae_tts vae train --config semantic_vae data.train=CORPUS_DIR --resume auto
    svae-tts vae train --config vae/configs/tiny_semantic.yaml data.train=DIR teacher.model=TEACHER_DIR
    # precomputed teacher features instead of the online teacher:  teacher.features=FEATURES_DIR
    # fine-tune an imported official model:  init_from=IMPORTED_DIR (its projector/discriminator files too)

From Python: ``vae.train.train(cfg: TrainConfig) -> TrainResult``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from svae_tts.checkpoint import VAE_KIND
from svae_tts.model_kinds import refuse_other_kind
from svae_tts.trainer import RunDirTrainer
from vae.config import load_preset
from vae.data import CropDataset, list_items, make_loader, valid_split_of
from vae.discriminators import num_parameters
from vae.losses import (MultiScaleMelLoss, alignment_loss, discriminator_adv_loss, feature_matching_loss,
                        frame_mask, generator_adv_loss, interpolate_features, kl_divergence)
from vae.model import SemanticVAE, VAEError
from vae.pca_target import PCATarget, fit_pca_target
from vae.train_config import TrainConfig
from vae.train_models import build_alignment, build_run_discriminator, load_pca_target, write_export

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    history: list[dict] = field(default_factory=list)      # per-step float losses of this process
    last_checkpoint: Optional[Path] = None
    last_export: Optional[Path] = None


def _seed_for(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


class Trainer(RunDirTrainer):
    """Builds everything from a :class:`TrainConfig`; :meth:`run` trains to ``cfg.max_steps``
    (the loop, run dir, checkpoints and logging are :class:`svae_tts.trainer.RunDirTrainer`'s)."""

    name = "vae"
    error = VAEError
    postfix = ("mel", "kl", "align", "gan", "disc")
    card_sections = ("data", "teacher", "loss", "optim")

    def __init__(self, cfg: TrainConfig, accelerator=None):
        super().__init__(cfg, [cfg.data.train, cfg.data.valid, cfg.teacher.model, cfg.teacher.features,
                               cfg.init_from, cfg.init_discriminator], accelerator)
        if cfg.loss.adv_start_step < cfg.loss.disc_start_step:
            raise VAEError(f"loss.adv_start_step ({cfg.loss.adv_start_step}) < loss.disc_start_step ({cfg.loss.disc_start_step})")
        if not cfg.data.train:
            raise VAEError("data.train is empty: give a corpus dir or a folder of audio files")

        # -- models -------------------------------------------------------------------------------
        if cfg.init_from:
            refuse_other_kind(cfg.init_from, VAE_KIND)  # a TTS model, a run dir ...: named, before it is read
            gen = SemanticVAE.from_pretrained(cfg.init_from)
        else:
            gen = SemanticVAE(load_preset(cfg.vae, cfg.vae_overrides))
        gen.train()
        self.sample_rate = gen.sample_rate
        self.hop = gen.hop_length

        # the projector before the discriminator: the order fixes the initial weights
        self.teacher, self.features, projector = build_alignment(cfg, gen.latent_dim, self.device)
        disc = build_run_discriminator(cfg)
        self.mel_loss = MultiScaleMelLoss(self.sample_rate, cfg.loss.mel_n_mels, cfg.loss.mel_windows).to(self.device)

        o = cfg.optim
        g_params = list(gen.parameters()) + (list(projector.parameters()) if projector is not None else [])
        opt_g = torch.optim.AdamW(g_params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=o.lr_decay)
        sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=o.lr_decay)
        # the schedulers are not prepared: accelerate would checkpoint them as pickles, run_state keeps them as
        # JSON (they are stepped once per optimiser step, as accelerate's step_scheduler_with_optimizer=False does)
        if projector is not None:
            gen, projector, disc, opt_g, opt_d = self.acc.prepare(gen, projector, disc, opt_g, opt_d)
        else:
            gen, disc, opt_g, opt_d = self.acc.prepare(gen, disc, opt_g, opt_d)
        self.gen, self.projector, self.disc = gen, projector, disc
        self.opt_g, self.opt_d, self.sched_g, self.sched_d = opt_g, opt_d, sched_g, sched_d

        from ema_pytorch import EMA

        self.ema = EMA(self.acc.unwrap_model(gen), beta=o.ema_beta, update_after_step=o.ema_update_after_step,
                       update_every=o.ema_update_every, include_online_model=False).to(self.device)

        # -- data ---------------------------------------------------------------------------------
        d = cfg.data
        self.segment = int(round(d.segment_seconds * self.sample_rate))
        items = list_items(d.train, d.train_split)
        self.dataset = CropDataset(items, self.sample_rate, self.segment, cfg.seed, self.features)
        self.valid_batch = self._valid_batch()
        self.pca_target = self._pca_target(gen.latent_dim) if cfg.teacher.enabled and cfg.teacher.target == "pca" else None
        # what the latent is pulled toward: the learned projector's output or the fixed PCA projection
        self.align_target = self.projector if self.projector is not None else self.pca_target

    def trainer_state(self) -> dict:
        """Saved as JSON + safetensors by svae_tts.run_state (never pickled)."""
        return {"ema": self.ema, "sched_g": self.sched_g, "sched_d": self.sched_d}

    # -- data helpers -------------------------------------------------------------------------------
    def _valid_batch(self) -> list[dict]:
        d = self.cfg.data
        if d.valid_items <= 0:
            return []
        src = d.valid or d.train
        try:
            items = list_items(src, d.valid_split or valid_split_of(src))
        except VAEError:
            items = list_items(src, d.train_split)  # a folder of audio, or a corpus without that split
        ds = CropDataset(items[:d.valid_items], self.sample_rate, int(d.valid_seconds * self.sample_rate))
        return [ds[i] for i in range(len(ds))]

    def _pca_target(self, latent_dim: int) -> PCATarget:
        """The fine-tuned model dir's PCA target, else one fitted on the teacher features of
        ``teacher.pca_batches`` training batches. Those batches come from a sampler of their own
        (seeded from the run's seed), one for every process, so the training batches are not
        touched, every process fits the same target, and a resumed run fits it again exactly."""
        t = self.cfg.teacher
        width = self.teacher.width if self.teacher is not None else self.features.width
        if latent_dim > width:  # before any teacher forward: D principal components need D teacher dims
            raise VAEError(f"teacher.target=pca: the latent has {latent_dim} dims but the teacher only {width}; "
                           "use teacher.target=projector or a wider teacher")
        loaded = load_pca_target(self.cfg.init_from, width, latent_dim)
        if loaded is not None:
            return loaded.to(self.device)
        rate = self.teacher.frame_rate if self.teacher is not None else self.features.frame_rate
        loader = iter(make_loader(self.dataset, self.cfg.data.batch_size, self.cfg.seed + 1, 0))

        def frames():
            for _ in range(t.pca_batches):
                batch = self._to_device(next(loader))
                feats = self.teacher_features(batch)
                for f, n in zip(feats, batch["lengths"].tolist()):
                    yield f[: max(1, min(f.shape[0], round(n / self.sample_rate * rate)))]

        try:
            target, share = fit_pca_target(frames(), latent_dim)
        except ValueError as exc:
            raise VAEError(f"teacher.target=pca: {exc}") from None
        log.info("PCA alignment target: top %d of %d teacher dims keep %.1f %% of the variance (%d batches)",
                 latent_dim, width, 100 * share, t.pca_batches)
        return target.to(self.device)

    def _to_device(self, batch: dict) -> dict:
        return {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}

    # -- loss pieces -------------------------------------------------------------------------------
    def generate(self, batch: dict, step: int, micro: int) -> dict:
        """VAE forward with latent noise seeded by (seed, step, micro-batch, rank); output masked to lengths."""
        g = torch.Generator(device=self.device).manual_seed(_seed_for(self.cfg.seed, step, micro, self.acc.process_index))
        out = self.gen(batch["wav"], generator=g)
        smask = (torch.arange(batch["wav"].shape[-1], device=self.device)[None, :] < batch["lengths"][:, None])
        out["audio"] = out["audio"].float() * smask  # padding is silent in the target: make it silent here too
        out["frame_mask"] = frame_mask(batch["lengths"], self.hop, out["z"].shape[1])
        return out

    def teacher_features(self, batch: dict) -> torch.Tensor:
        """Teacher features ``(B, Tt, C)`` covering the whole (padded) crop."""
        if self.teacher is not None:
            with self.acc.autocast():
                feats, _ = self.teacher(batch["wav"], batch["lengths"], self.sample_rate)
            return feats.float()
        feats = batch["feats"]
        want = max(1, int(round(batch["wav"].shape[-1] / self.sample_rate * self.features.frame_rate)))
        if feats.shape[1] < want:
            feats = nn.functional.pad(feats, (0, 0, 0, want - feats.shape[1]))
        return feats[:, :want]

    def kl_weight(self, step: int) -> float:
        w, warm = self.cfg.loss.kl_weight, self.cfg.loss.kl_warmup_steps
        return w * min(1.0, (step + 1) / warm) if warm > 0 else w

    def generator_losses(self, batch: dict, out: dict, step: int, adversarial: bool) -> dict[str, torch.Tensor]:
        L = self.cfg.loss
        y, y_hat = batch["wav"].float(), out["audio"]
        fmask = out["frame_mask"]
        losses = {"mel": self.mel_loss(y_hat, y),
                  "kl": kl_divergence(out["mu"].float(), out["logvar"].float(), fmask)}
        total = L.mel_weight * losses["mel"] + self.kl_weight(step) * losses["kl"]
        if self.align_target is not None:
            feats = interpolate_features(self.teacher_features(batch), out["z"].shape[1])
            with self.acc.autocast():
                proj = self.align_target(feats)
            losses["align"] = alignment_loss(out["z"], proj, fmask)
            if step >= L.align_start_step:
                total = total + L.align_weight * losses["align"]
        if adversarial:
            disc = self.acc.unwrap_model(self.disc)  # not through DDP: D is not updated by this backward
            with self.acc.autocast():
                _, fake, fmap_r, fmap_f = disc(y.unsqueeze(1), y_hat.unsqueeze(1))
            losses["gan"] = generator_adv_loss(fake)
            losses["fm"] = feature_matching_loss(fmap_r, fmap_f)
            total = total + L.gan_weight * losses["gan"] + L.fm_weight * losses["fm"]
        losses["total"] = total
        return losses

    # -- one optimiser step --------------------------------------------------------------------------
    def train_step(self, batches: list[dict]) -> dict[str, float]:
        step, cfg = self.state.step, self.cfg
        accum = len(batches)
        d_on = step >= cfg.loss.disc_start_step and (cfg.loss.gan_weight > 0 or cfg.loss.fm_weight > 0)
        adv_on = d_on and step >= cfg.loss.adv_start_step
        check_grads = cfg.mixed_precision != "fp16"  # fp16 overflows are the scaler's business
        logs: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        cached = None
        if d_on:
            for i, b in enumerate(batches):
                with contextlib.ExitStack() as stack:
                    if i < accum - 1:
                        stack.enter_context(self.acc.no_sync(self.disc))
                    with torch.no_grad() if accum > 1 else contextlib.nullcontext():
                        out = self.generate(b, step, i)
                    if accum == 1:
                        cached = out
                    with self.acc.autocast():
                        real, fake, _, _ = self.disc(b["wav"].unsqueeze(1), out["audio"].detach().unsqueeze(1))
                    d_loss = discriminator_adv_loss(real, fake)
                    self.acc.backward(d_loss / accum)
                logs["disc"] += d_loss.detach() / accum
            logs["grad_norm_disc"] = torch.as_tensor(self.acc.clip_grad_norm_(self.disc.parameters(), cfg.optim.grad_clip))
            self.check_finite({"discriminator loss": logs["disc"], **({"discriminator grad norm": logs["grad_norm_disc"]} if check_grads else {})})
            self.opt_d.step()
            self.sched_d.step()
            self.opt_d.zero_grad(set_to_none=True)

        disc_raw = self.acc.unwrap_model(self.disc)
        disc_raw.requires_grad_(False)
        try:
            g_models = [self.gen] + ([self.projector] if self.projector is not None else [])
            for i, b in enumerate(batches):
                with contextlib.ExitStack() as stack:
                    if i < accum - 1:
                        for m in g_models:
                            stack.enter_context(self.acc.no_sync(m))
                    out = cached if cached is not None else self.generate(b, step, i)
                    losses = self.generator_losses(b, out, step, adv_on)
                    self.acc.backward(losses["total"] / accum)
                for k, v in losses.items():
                    logs[k] += v.detach() / accum
        finally:
            disc_raw.requires_grad_(True)
        g_params = [p for m in g_models for p in m.parameters()]
        logs["grad_norm_gen"] = torch.as_tensor(self.acc.clip_grad_norm_(g_params, cfg.optim.grad_clip))
        self.check_finite({"generator loss": logs["total"], **({"generator grad norm": logs["grad_norm_gen"]} if check_grads else {})})
        self.opt_g.step()
        self.sched_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        self.ema.update()
        result = {k: float(v) for k, v in logs.items()}
        result["lr"] = self.sched_g.get_last_lr()[0]
        return result

    # -- exports ----------------------------------------------------------------------------------
    def write_export(self, out: Path) -> None:
        """The export dir :func:`vae.train_models.write_export` describes, from the EMA generator."""
        projector = self.acc.unwrap_model(self.projector) if self.projector is not None else self.pca_target
        write_export(out, self.ema.ema_model, self.cfg.teacher, self.features, projector, self.acc.unwrap_model(self.disc),
                     card=self.card_facts())

    def card_facts(self) -> dict:
        """The scaffold's facts, and the last validation mel distance (with its step) when there is one."""
        facts = super().card_facts()
        if getattr(self, "last_valid", None) is not None:
            step, value = self.last_valid
            facts["metrics"][f"validation mel distance (EMA model, step {step})"] = value
        return facts

    # -- validation and logging ------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, audio: bool = False) -> Optional[float]:
        if not self.valid_batch or not self.acc.is_main_process:
            return None
        model = self.ema.ema_model.eval()
        dists = []
        for i, item in enumerate(self.valid_batch):
            wav = item["wav"][:item["length"]].to(self.device)[None]
            mu, _ = model.encode_stats(wav)
            rec = model.decode(mu, wav.shape[-1]).float()
            dists.append(float(self.mel_loss(rec, wav)))
            if audio and self.writer is not None and i < 2:
                self.writer.add_audio(f"valid/{i}_reconstruction", rec[0].clamp(-1, 1).cpu(), self.state.step, self.sample_rate)
                if self.state.step == 0 or not getattr(self, "_logged_refs", False):
                    self.writer.add_audio(f"valid/{i}_original", wav[0].cpu(), self.state.step, self.sample_rate)
        self._logged_refs = True
        value = sum(dists) / len(dists)
        self.last_valid = (self.state.step, value)
        if self.writer is not None:
            self.writer.add_scalar("valid/mel_distance", value, self.state.step)
        return value

    # -- hooks of the loop ----------------------------------------------------------------------------
    def on_start(self, resumed: Optional[Path]) -> None:
        if self.writer is not None and resumed is None:
            self.writer.add_text("params", f"generator {num_parameters(self.acc.unwrap_model(self.gen)):,}; "
                                 f"discriminator {num_parameters(self.acc.unwrap_model(self.disc)):,}")

    def batches(self):
        """Lists of ``grad_accum`` micro-batches, from the batch the current step starts at."""
        cfg = self.cfg
        loader = make_loader(self.dataset, cfg.data.batch_size, cfg.seed, cfg.data.num_workers,
                             self.acc.num_processes, self.acc.process_index, start_batch=self.state.step * cfg.grad_accum)
        it = iter(loader)
        while True:
            yield [self._to_device(next(it)) for _ in range(cfg.grad_accum)]

    def after_step(self, step: int) -> None:
        cfg = self.cfg
        if cfg.valid_every > 0 and step % cfg.valid_every == 0:
            self.validate(audio=cfg.audio_every > 0 and step % cfg.audio_every == 0)
        super().after_step(step)

    def run(self) -> TrainResult:
        super().run()
        return TrainResult(self.run_dir, self.state.step, self.history, self.last_checkpoint, self.last_export)


def train(cfg: TrainConfig, accelerator=None) -> TrainResult:
    """Train (or resume, with ``cfg.resume``) to ``cfg.max_steps``; returns the run dir and per-step losses."""
    return Trainer(cfg, accelerator).run()


def main(argv: list[str] | None = None) -> int:
    """``python -m vae.train ARGS``: an alias of ``svae-tts vae train ARGS`` (the same parser, options
    and function), kept so that existing commands and docs keep working."""
    from svae_tts.cli import main as cli_main

    return cli_main(["vae", "train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
