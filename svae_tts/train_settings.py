"""The settings every trainer shares, under one set of names (VAE, TTS and CTC configs derive from these).

A trainer's config class derives from :class:`LoopSettings` (a step loop with no run dir: ``train-ctc``)
or :class:`RunSettings` (a run dir with checkpoints and exports: the VAE and TTS trainers) and adds its
own sections; it may redeclare a field to change its default. The optimiser settings the VAE and
TTS trainers share (AdamW, gradient clipping, the EMA of the weights) are :class:`OptimSettings`,
which each trainer's ``optim`` section extends with its learning-rate schedule. The names the trainers used before
(``steps``, ``checkpoint_every``, ``keep_checkpoints``) are refused with the new name, so an old YAML
file fails where it is read instead of training with a default budget.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Optional, Union

from svae_tts.config import Checked, in_range, nonneg, positive, ranged, seed_field
from svae_tts.errors import ConfigError

MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class LoopSettings(Checked):
    """Seeding, the step budget, what the step loop reports, and whether it may replace an earlier output."""

    seed: int = seed_field(0)
    max_steps: int = positive(1000)  # the budget: same seed + same steps = the same weights on any machine
    max_minutes: Optional[float] = positive(None)  # a safety stop only: passing it is an error, never a quiet end
    log_every: int = nonneg(50)  # progress-bar and TensorBoard period; 0 = never
    mixed_precision: str = "no"  # no | bf16 | fp16 (accelerate)
    progress: bool = True  # the tqdm bar (main process only)
    overwrite: bool = False  # replace what an earlier run wrote (a run dir, a model dir) instead of refusing it

    RENAMED: typing.ClassVar[dict] = {"steps": "max_steps"}

    def __post_init__(self) -> None:
        super().__post_init__()
        # YAML reads a bare `no` as false: accept it (and none/off) as "no".
        if str(self.mixed_precision).lower() in ("no", "false", "none", "off", ""):
            self.mixed_precision = "no"
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"mixed_precision: {self.mixed_precision!r} is not one of {', '.join(MIXED_PRECISION)}")


@dataclass
class RunSettings(LoopSettings):
    """The run dir: where checkpoints and exports go, how many are kept, and how a run starts
    (``overwrite``: wipe an existing run dir and start afresh)."""

    run_dir: str = "runs/train"
    save_every: int = nonneg(1000)  # checkpoint period; 0 = only at the end
    export_every: Optional[int] = nonneg(None)  # export period; None = with every checkpoint, 0 = only at the end
    keep_last: int = positive(3)  # checkpoints kept (exports are all kept: eval walks them)
    resume: Optional[Union[bool, str]] = None  # "auto" (newest checkpoint, if any) | a checkpoint dir | none

    RENAMED: typing.ClassVar[dict] = {**LoopSettings.RENAMED, "checkpoint_every": "save_every",
                                      "keep_checkpoints": "keep_last"}

    def __post_init__(self) -> None:
        super().__post_init__()
        # `resume: true` (the TTS trainer's former spelling) means the newest checkpoint; false/no/none: fresh.
        if self.resume is True:
            self.resume = "auto"
        elif self.resume is False or str(self.resume).strip().lower() in ("", "none", "no", "false"):
            self.resume = None

    @property
    def export_period(self) -> int:
        return self.save_every if self.export_every is None else self.export_every


@dataclass
class OptimSettings(Checked):
    """AdamW, gradient-norm clipping and the EMA of the weights (ema-pytorch's settings): what the VAE
    and TTS trainers optimise with. A trainer's ``optim`` section derives from it, redeclares the
    defaults of its recipe and adds its learning-rate schedule (the VAE's exponential decay, the
    TTS's warm-up and linear decay), so both read ``optim.lr``, ``optim.betas`` ... the same way."""

    lr: float = positive(1e-4)
    betas: tuple[float, float] = ranged((0.9, 0.999), ge=0, lt=1)
    weight_decay: float = nonneg(0.01)
    grad_clip: float = positive(1.0)  # the largest gradient norm, clipped to before each step
    ema_beta: float = in_range(0.9999, 0, 1)  # ema-pytorch defaults
    ema_update_after_step: int = nonneg(100)
    ema_update_every: int = positive(10)
