"""One training scaffold for the VAE, TTS and CTC trainers: everything around the step.

A trainer keeps its config, its model and optimiser set-up and its step; this module owns the rest,
so every trainer seeds, counts, reports, stops, saves and resumes the same way:

- :class:`StepLoop`: accelerate (mixed precision) and seeding, the loop to ``max_steps`` with a tqdm
  bar, the wall-clock safety stop (``max_minutes``: it raises, so a busy machine never yields a
  quietly weaker model), the non-finite loss/gradient stop (before the bad update), and logging
  (progress-bar postfix and TensorBoard, averaged over the logging window and over processes).
- :class:`RunDirTrainer`: the run dir on top (output guard; resume from the newest checkpoint, a
  given one, or fresh; ``overwrite``), ``config.yaml``, ``tb/``, periodic checkpoints (atomic, last
  ``keep_last`` kept, no pickles: :mod:`svae_tts.run_state`) and exports (``exports/step_X``), and
  on resume the export a crash kept the checkpoint's step from writing.

A subclass implements :meth:`StepLoop.batches` (an endless iterator from the current position),
:meth:`StepLoop.train_step` (one optimiser step at ``state.step``; the scaffold then counts it) and,
with a run dir, :meth:`RunDirTrainer.write_export` and :meth:`RunDirTrainer.trainer_state`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import torch

from svae_tts.config import save_config, to_dict
from svae_tts.errors import OutputExistsError, SvaeError
from svae_tts.fileio import RUN_DIR_MARKERS, guard_output
from svae_tts.run_state import (Stateful, export_dir, latest_checkpoint, load_checkpoint, recover_run_dir,
                                save_checkpoint)
from svae_tts.train_settings import LoopSettings, RunSettings

log = logging.getLogger(__name__)


class TrainingDivergedError(SvaeError):
    """A loss or gradient went NaN/Inf: training stopped before the bad update was applied."""


class TrainState:
    """The step counter (optimiser steps done), checkpointed as JSON; subclasses add positions of their own."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


class StepLoop:
    """accelerate, seeding and the step loop; see the module docstring for what a subclass adds."""

    name = "train"  # the progress bar's label
    error: type[SvaeError] = SvaeError  # what the safety stop raises (the trainer's own error class)
    postfix: tuple[str, ...] = ("loss",)  # logged values shown on the progress bar

    def __init__(self, cfg: LoopSettings, accelerator=None, state: Optional[TrainState] = None, **accelerator_kw):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.acc = accelerator or Accelerator(mixed_precision=cfg.mixed_precision,
                                              step_scheduler_with_optimizer=False, **accelerator_kw)
        set_seed(cfg.seed)  # random, numpy and torch (all devices): before any model is built
        self.device = self.acc.device
        self.state = state or TrainState()
        self.history: list[dict[str, float]] = []  # this process's per-step values, from the start step on
        self.writer = None  # a TensorBoard SummaryWriter on the main process, where the trainer has one
        self.elapsed = 0.0

    # -- what a trainer provides -------------------------------------------------------------------
    def batches(self) -> Iterator[Any]:
        """Endless iterator of what :meth:`train_step` takes, starting at ``state.step``."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimiser step at ``self.state.step``: returns float values to log (``lr`` included)."""
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        """Called on every process after step ``step`` was counted (validation, samples, checkpoints)."""

    def last_good_checkpoint(self) -> Optional[Path]:
        return None

    # -- services for the step ---------------------------------------------------------------------
    def check_finite(self, values: dict[str, torch.Tensor]) -> None:
        """Stop before the update when any value is non-finite on any process (a collective: all call it)."""
        names = list(values)
        vec = torch.stack([values[k].detach().float().reshape(()) for k in names]).to(self.device)
        bad = ~torch.isfinite(self.acc.gather(vec.unsqueeze(0))).all(0)
        if bool(bad.any()):
            which = ", ".join(n for n, b in zip(names, bad.tolist()) if b)
            last = self.last_good_checkpoint()
            hint = f"Last good checkpoint: {last} (resume from it with" if last else "Retry with"
            raise TrainingDivergedError(f"step {self.state.step + 1}: non-finite {which}; stopped before applying "
                                        f"the update. {hint} a lower lr or more warm-up)")

    def advance(self, batch: Any) -> dict[str, float]:
        """One step, counted and recorded (what the loop does; benchmarks call it directly)."""
        logs = self.train_step(batch)
        self.state.step += 1
        self.history.append(logs)
        return logs

    # -- the loop ----------------------------------------------------------------------------------
    def loop(self) -> None:
        """Train from ``state.step`` to ``cfg.max_steps``."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        bar = tqdm(total=cfg.max_steps, initial=self.state.step, desc=self.name, unit="step", dynamic_ncols=True,
                   disable=not (cfg.progress and self.acc.is_main_process))
        start, rate_t0, rate_s0 = time.time(), time.perf_counter(), self.state.step
        it = iter(self.batches())
        try:
            while self.state.step < cfg.max_steps:
                if cfg.max_minutes is not None and time.time() - start > cfg.max_minutes * 60:
                    raise self.error(f"{self.name}: passed its safety cap of {cfg.max_minutes:g} minutes at step "
                                     f"{self.state.step} of {cfg.max_steps}; the budget is max_steps (raise or drop "
                                     "max_minutes)")
                self.advance(next(it))
                step = self.state.step
                if cfg.log_every and (step % cfg.log_every == 0 or step == cfg.max_steps):
                    rate = (step - rate_s0) / max(time.perf_counter() - rate_t0, 1e-9)
                    bar.set_postfix(self.log(self.history[-cfg.log_every:], step) | {"steps/s": f"{rate:.2f}"})
                bar.update(1)
                self.after_step(step)
        finally:
            bar.close()
            self.elapsed = time.time() - start

    def log(self, window: list[dict[str, float]], step: int) -> dict[str, str]:
        """Means over ``window`` and over processes (a collective), written to TensorBoard; the bar's postfix."""
        names = sorted({k for logs in window for k in logs})
        means = [sum(logs[k] for logs in window if k in logs) / sum(k in logs for logs in window) for k in names]
        vec = self.acc.reduce(torch.tensor(means, device=self.device, dtype=torch.float64), "mean").tolist()
        values = dict(zip(names, vec))
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"train/{k}", v, step)
        shown = {k: f"{values[k]:.3g}" for k in self.postfix if k in values}
        if "lr" in values:
            shown["lr"] = f"{values['lr']:.2e}"
        return shown


class RunDirTrainer(StepLoop):
    """A :class:`StepLoop` whose run lives in a run dir: resume, checkpoints, exports, ``config.yaml``, ``tb/``."""

    # config sections whose values an export's model card lists (the data it was trained on, the optimiser ...)
    card_sections: tuple[str, ...] = ("data", "optim")

    def __init__(self, cfg: RunSettings, inputs: Iterable[Any] = (), accelerator=None,
                 state: Optional[TrainState] = None):
        super().__init__(cfg, accelerator, state)
        self.run_dir = guard_output(cfg.run_dir, list(inputs), overwrite=cfg.overwrite, exists_ok=True,
                                    markers=RUN_DIR_MARKERS, what="run dir")
        self.resume_from = self._open_run_dir()
        self.last_checkpoint: Optional[Path] = None
        self.last_export: Optional[Path] = None
        self.exports: list[Path] = []  # written by this run

    # -- what a trainer provides -------------------------------------------------------------------
    def trainer_state(self) -> dict[str, Stateful]:
        """The trainer's own objects checkpointed beside ``state`` (EMA, LR schedulers ...), as JSON + safetensors."""
        return {}

    def write_export(self, out: Path) -> None:
        """Write the model ``out`` (main process only; ``out`` must appear complete or not at all)."""
        raise NotImplementedError

    def on_start(self, resumed: Optional[Path]) -> None:
        """After the run dir is made, the checkpoint loaded and the writer opened, before the first step."""

    # -- run dir -----------------------------------------------------------------------------------
    def _open_run_dir(self) -> Optional[Path]:
        """Tidy what a crash left and find the checkpoint to resume (none with ``overwrite``); a run dir
        holding an earlier run is never continued or replaced unless asked to. Nothing is written yet:
        a bad setting found while the trainer is built must leave the run dir as it was."""
        cfg, run_dir = self.cfg, self.run_dir
        if cfg.overwrite:
            return None
        recover_run_dir(run_dir, self.acc)
        found = self.find_checkpoint(cfg.resume) if cfg.resume else None
        if found is None and run_dir.is_dir() and any(run_dir.iterdir()):
            what = "checkpoints" if latest_checkpoint(run_dir) else "an earlier run without a checkpoint"
            raise OutputExistsError(f"{run_dir}: already holds {what}; pass --resume auto (resume=auto) to "
                                    "continue from the newest checkpoint or overwrite=true to start afresh")
        return found

    def _make_run_dir(self) -> None:
        """Wipe the earlier run (``overwrite``) and create the run dir: main process, then a barrier."""
        if self.acc.is_main_process:
            if self.cfg.overwrite and self.run_dir.exists():
                shutil.rmtree(self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.acc.wait_for_everyone()

    def find_checkpoint(self, ref: str) -> Optional[Path]:
        """``auto``: the newest checkpoint (None when there is none); otherwise ``ref`` itself."""
        if ref == "auto":
            return latest_checkpoint(self.run_dir)
        path = Path(ref)
        if not path.is_dir():
            raise self.error(f"resume: {path} is not a checkpoint directory")
        return path

    def stateful(self) -> dict[str, Stateful]:
        return {"state": self.state, **self.trainer_state()}

    def resume(self, ref: str) -> Optional[Path]:
        """Restore ``ref`` (see :meth:`find_checkpoint`); a file that needs unpickling is refused, nothing runs."""
        path = self.find_checkpoint(ref)
        return load_checkpoint(self.acc, path, self.stateful()) if path is not None else None

    def last_good_checkpoint(self) -> Optional[Path]:
        return latest_checkpoint(self.run_dir)

    # -- checkpoints and exports -------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """``checkpoints/step_X`` (every process calls it), then the newest ``keep_last`` kept."""
        self.last_checkpoint = save_checkpoint(self.acc, self.run_dir, self.state.step, self.stateful(),
                                               self.cfg.keep_last)
        return self.last_checkpoint

    def export(self) -> Path:
        """``exports/step_X`` written by the main process; every process calls it and waits for it."""
        out = export_dir(self.run_dir, self.state.step)
        if self.acc.is_main_process:
            self.write_export(out)
        self.acc.wait_for_everyone()
        self.last_export = out
        self.exports.append(out)
        return out

    def card_facts(self) -> dict[str, dict[str, Any]]:
        """What an export's model card says about its training (:func:`svae_tts.model_card.write_model_card`'s
        ``training`` and ``metrics``): step, budget and seed, the plain values of ``card_sections``,
        and the logged values of the progress bar averaged over the last logging window (this process's)."""
        cfg = self.cfg
        training: dict[str, Any] = {"steps": self.state.step, "max_steps": cfg.max_steps, "seed": cfg.seed,
                                    "mixed precision": cfg.mixed_precision}
        for section in self.card_sections:
            values = getattr(cfg, section, None)
            if dataclasses.is_dataclass(values):
                training.update({f"{section}.{k}": v for k, v in to_dict(values).items()
                                 if v is not None and not isinstance(v, (dict, list, tuple))})
        window = self.history[-(cfg.log_every or 100):]
        metrics = {}
        for name in self.postfix:
            seen = [logs[name] for logs in window if name in logs]
            if seen:
                metrics[f"training {name} (mean of the last {len(seen)} steps)"] = sum(seen) / len(seen)
        return {"training": training, "metrics": metrics}

    def _due(self, every: int, step: int) -> bool:
        return every > 0 and step > 0 and step % every == 0

    def after_step(self, step: int) -> None:
        if self._due(self.cfg.save_every, step):
            self.save_checkpoint()
        if self._due(self.cfg.export_period, step):
            self.export()

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> None:
        """Resume (when asked), train to ``max_steps``, and end with a checkpoint and an export of the last step."""
        cfg = self.cfg
        self._make_run_dir()
        resumed = load_checkpoint(self.acc, self.resume_from, self.stateful()) if self.resume_from else None
        self.last_checkpoint = resumed
        if resumed is not None and self.acc.is_main_process:
            log.info("resumed from %s at step %d", resumed, self.state.step)
        if self.acc.is_main_process:
            save_config(cfg, self.run_dir / "config.yaml")
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"))
        try:
            self.on_start(resumed)
            step = self.state.step
            if resumed is not None and export_dir(self.run_dir, step).is_dir():
                self.last_export = export_dir(self.run_dir, step)
            elif resumed is not None and (self._due(cfg.export_period, step) or step >= cfg.max_steps):
                self.export()  # killed between that checkpoint and its export: write it now
            self.loop()
            step = self.state.step
            if self.last_checkpoint is None or self.last_checkpoint.name != export_dir(".", step).name:
                self.save_checkpoint()
            if self.last_export is None or self.last_export.name != export_dir(".", step).name:
                self.export()
        finally:
            if self.writer is not None:
                self.writer.flush()
                self.writer.close()
