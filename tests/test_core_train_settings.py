"""One set of run-setting names for every trainer: old names fail with the new one, resume spellings agree."""

from pathlib import Path

import pytest

from svae_tts.config import load_config
from svae_tts.errors import ConfigError
from svae_tts.train_settings import RunSettings

ROOT = Path(__file__).resolve().parents[1]


def _configs():
    from data_prep.ctc import CTCTrainConfig
    from tts_recipes.train import TrainConfig as TTSConfig
    from vae.train_config import TrainConfig as VAEConfig

    return {"vae": VAEConfig, "tts": TTSConfig, "ctc": CTCTrainConfig}


@pytest.mark.parametrize("trainer", ["vae", "tts", "ctc"])
def test_old_step_budget_name_names_the_new_one(trainer, tmp_path):
    cls = _configs()[trainer]
    (tmp_path / "old.yaml").write_text("steps: 10\n")
    with pytest.raises(ConfigError, match=r"old\.yaml: steps: `steps` was renamed `max_steps`"):
        load_config(cls, tmp_path / "old.yaml")
    with pytest.raises(ConfigError, match="`steps` was renamed `max_steps`"):
        load_config(cls, None, ["steps=10"])
    assert load_config(cls, None, ["max_steps=10"]).max_steps == 10


@pytest.mark.parametrize("old, new", [("checkpoint_every", "save_every"), ("keep_checkpoints", "keep_last")])
@pytest.mark.parametrize("trainer", ["vae", "tts"])
def test_old_checkpoint_names_name_the_new_ones(trainer, old, new):
    with pytest.raises(ConfigError, match=f"`{old}` was renamed `{new}`"):
        load_config(_configs()[trainer], None, [f"{old}=5"])


def test_every_shipped_config_reads_with_the_new_names():
    from tts_recipes.train import load_train_config
    from vae.train_config import TrainConfig

    for path in sorted((ROOT / "vae" / "configs").glob("*.yaml")):
        cfg = load_config(TrainConfig, path)
        assert cfg.max_steps > 0 and cfg.keep_last > 0, path
    for name in ("tiny", "small", "base"):
        assert load_train_config(name).max_steps > 0


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("true", "auto"), ("false", None), ("no", None),
                                             ("none", None), ("runs/x/checkpoints/step_00000002", "runs/x/checkpoints/step_00000002")])
def test_resume_spellings(value, expected):
    assert load_config(RunSettings, None, [f"resume={value}"]).resume == expected


def test_mixed_precision_is_checked():
    assert load_config(RunSettings, None, ["mixed_precision=no"]).mixed_precision == "no"  # YAML's bare no
    with pytest.raises(ConfigError, match="mixed_precision: 'fp8' is not one of no, bf16, fp16"):
        load_config(RunSettings, None, ["mixed_precision=fp8"])


@pytest.mark.parametrize("trainer", ["vae", "tts"])
def test_optim_settings_are_shared_and_checked_alike(trainer):
    """Both trainers' ``optim`` sections are :class:`OptimSettings` with their own defaults and schedule."""
    from svae_tts.train_settings import OptimSettings

    cls = _configs()[trainer]
    cfg = load_config(cls, None, ["optim.lr=2e-4", "optim.betas=[0.5,0.9]", "optim.ema_update_every=3"])
    assert isinstance(cfg.optim, OptimSettings)
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.ema_update_every) == (2e-4, (0.5, 0.9), 3)
    with pytest.raises(ConfigError, match=r"optim\.betas\[1\]: 1\.0 is too large"):
        load_config(cls, None, ["optim.betas=[0.9,1.0]"])
    with pytest.raises(ConfigError, match=r"optim\.betas"):  # AdamW takes exactly two
        load_config(cls, None, ["optim.betas=[0.9,0.99,0.5]"])
    with pytest.raises(ConfigError, match=r"optim\.grad_clip: -1"):
        load_config(cls, None, ["optim.grad_clip=-1"])


def test_optim_defaults_are_each_recipes():
    """The release's VAE recipe and F5-TTS's, each with its own learning-rate schedule."""
    from tts_recipes.train import OptimConfig as TTSOptim
    from vae.train_config import OptimConfig as VAEOptim

    vae, tts = VAEOptim(), TTSOptim()
    assert (vae.lr, vae.betas, vae.grad_clip, vae.lr_decay) == (1e-4, (0.8, 0.99), 10.0, 0.999996)
    assert (tts.lr, tts.betas, tts.grad_clip, tts.warmup_steps, tts.decay_steps) == (7.5e-5, (0.9, 0.999), 1.0, 20000, None)
    assert not hasattr(tts, "lr_decay") and not hasattr(vae, "warmup_steps")
