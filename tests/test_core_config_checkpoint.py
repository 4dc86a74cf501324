import json
from dataclasses import dataclass, field
from typing import Optional

import pytest
import torch
from torch import nn

from svae_tts.checkpoint import PretrainedMixin, compare_state_dicts, load_torch_weights, resolve_model_dir
from svae_tts.config import load_config, save_config
from svae_tts.errors import CheckpointError, ConfigError
from svae_tts.fileio import atomic_dir, recover_dir


@dataclass
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)


@dataclass
class Cfg:
    name: str = "x"
    width: int = 8
    strides: list[int] = field(default_factory=lambda: [2, 4])
    teacher: Optional[str] = None
    optim: Optim = field(default_factory=Optim)


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("width: 16\noptim:\n  lr: 2.0e-4\n")
    cfg = load_config(Cfg, p, ["strides=[4,5]", "optim.betas=[0.5,0.9]", "teacher=microsoft/wavlm-large"])
    assert cfg.width == 16 and cfg.strides == [4, 5] and cfg.optim.lr == 2e-4
    assert cfg.optim.betas == (0.5, 0.9) and cfg.teacher == "microsoft/wavlm-large"
    save_config(cfg, tmp_path / "eff.yaml")
    assert load_config(Cfg, tmp_path / "eff.yaml") == cfg


@pytest.mark.parametrize("override, message", [("widht=3", "unknown key"), ("width=abc", "expected an integer"),
                                               ("optim.lr=[1]", "expected a number"), ("nokey", "key=value")])
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Cfg, None, [override])


@pytest.mark.parametrize("text, message", [(None, "c.yaml: config file not found"),
                                           ("width: [1\n", "c.yaml:2: invalid YAML \\(while parsing a flow sequence; expected ',' or '\\]'"),
                                           ("- 1\n- 2\n", "c.yaml: top level must be a mapping")])
def test_bad_config_file_is_named(tmp_path, text, message):
    p = tmp_path / "c.yaml"
    if text is not None:
        p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(Cfg, p)


def test_override_into_a_scalar_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("width: 16\n")
    with pytest.raises(ConfigError, match="'width.x=1': width is not a section"):
        load_config(Cfg, p, ["width.x=1"])


@dataclass
class TinyCfg:
    width: int = 4


class Tiny(nn.Module, PretrainedMixin):
    config_class = TinyCfg
    model_kind = "test.tiny"

    def __init__(self, config: TinyCfg):
        super().__init__()
        self.config = config
        self.lin = nn.Linear(config.width, config.width)

    def forward(self, x):
        return self.lin(x)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    m = Tiny(TinyCfg(width=6))
    m.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model_kind"] == "test.tiny" and cfg["width"] == 6
    m2 = Tiny.from_pretrained(tmp_path / "m")
    x = torch.randn(3, 6)
    assert torch.equal(m(x), m2(x))
    with pytest.raises(Exception, match="already exists"):
        m.save_pretrained(tmp_path / "m")


def test_strict_mismatch_names_keys(tmp_path):
    m = Tiny(TinyCfg(width=6))
    with pytest.raises(CheckpointError) as err:
        compare_state_dicts({k: tuple(v.shape) for k, v in m.state_dict().items()},
                            {"lin.weight": torch.zeros(5, 6), "extra.w": torch.zeros(1)}, "ckpt")
    msg = str(err.value)
    assert "missing: lin.bias" in msg and "unexpected: extra.w" in msg and "lin.weight (5, 6) != (6, 6)" in msg


def test_resolve_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such model directory"):
        resolve_model_dir(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        resolve_model_dir(tmp_path / "half")
    with pytest.raises(CheckpointError, match="no such local directory, and could not fetch it as a hub name"):
        resolve_model_dir("nobody-here/not-a-model-xyz")  # offline: clear message, no traceback


def test_weights_only_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, p)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_torch_weights(p)
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pth")
    assert torch.equal(load_torch_weights(tmp_path / "ok.pth")["w"], torch.ones(2))


def test_atomic_dir_keeps_previous_on_failure(tmp_path):
    d = tmp_path / "ckpt"
    with atomic_dir(d) as t:
        (t / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(d) as t:
            (t / "a").write_text("2")
            raise RuntimeError("crash mid-write")
    assert (d / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    # a crash between the two renames leaves the old dir under its trash name: recover it
    d.rename(tmp_path / ".ckpt.old-deadbeef")
    recover_dir(d)
    assert (d / "a").read_text() == "1"


def test_broken_model_dir_files_are_named(tmp_path):
    m = Tiny(TinyCfg(width=6))
    m.save_pretrained(tmp_path / "m")
    cfg_path = tmp_path / "m" / "config.json"
    good = cfg_path.read_text()
    cfg_path.write_text(good.replace("test.tiny", "vae"))
    with pytest.raises(CheckpointError, match="config.json: this is a 'vae' model, not a 'test.tiny' model"):
        Tiny.from_pretrained(tmp_path / "m")
    cfg_path.write_text("{broken")
    with pytest.raises(CheckpointError, match=r"config.json:1: invalid JSON \(Expecting property name"):
        Tiny.from_pretrained(tmp_path / "m")
    cfg_path.write_text(good)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable safetensors file"):
        Tiny.from_pretrained(tmp_path / "m")
