"""Official-release import against the released key/shape manifest, with synthetic tensors."""

import json
import math
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from svae_tts.cli import main as cli_main
from svae_tts.errors import CheckpointError, ConfigError, OutputExistsError
from svae_tts.fileio import OutputPathError
from vae import SemanticVAE
from vae.official import config_from_metainfo, import_official
from tests.shared_fixtures import write_release_ema


# The released key/shape manifest (a copy of shared/reference/semantic_vae_official_state_dict.json).
MANIFEST = Path(__file__).resolve().parent / "data" / "semantic_vae_official_state_dict.json"


def _manifest():
    return json.loads(MANIFEST.read_text())


def _metainfo(dim: int, distill: bool) -> dict:
    dec = dict(_manifest()[f"bigvgan_conf_vae{dim}"])
    return {
        "DAC": {"sample_rate": 16000, "encoder_dim": 64, "encoder_rates": [4, 4, 5, 5], "decoder_dim": 1536,
                "decoder_rates": [8, 8, 4, 2], "vae_dim": dim, "decoder_type": "bigvgan",
                "bigvgan_conf": f"conf/bigvgan_conf/bigvgan_v2_16khz_40hz_base_vae{dim}.json",
                "distill": distill, "attn_proj": True, "sampling_ratios": [0, 1]},
        "Decoder": dec,
        "Discriminator": {"sample_rate": 16000, "rates": [], "periods": [2, 3, 5, 7, 11]},
    }


_CACHE: dict[int, dict[str, torch.Tensor]] = {}


def _released_state(dim: int) -> dict[str, torch.Tensor]:
    """Tensors with exactly the released names and shapes (projectors included).

    To keep the 72 M-value files cheap to write and read, every tensor is a view into one shared
    random buffer (torch.save stores a shared storage once), each at its own offset so that two
    keys of the same shape still hold different values."""
    if dim not in _CACHE:
        shapes = _manifest()[f"vae_dim_{dim}"]
        numels = {k: math.prod(shape) for k, shape in shapes.items()}
        g = torch.Generator().manual_seed(dim)
        buf = torch.randn(2 * max(numels.values()), generator=g)
        offsets = torch.randint(0, max(numels.values()), (len(shapes),), generator=g).tolist()
        _CACHE[dim] = {k: buf[o:o + numels[k]].view(*shape) for (k, shape), o in zip(shapes.items(), offsets)}
    return _CACHE[dim]


def _release_folder(root: Path, dim: int, layout: str, distill: bool = True, state=None) -> Path:
    folder = root / f"release_d{dim}_{layout}"
    (folder / "dac").mkdir(parents=True)
    (folder / "metainfo.json").write_text(json.dumps(_metainfo(dim, distill)))
    state = _released_state(dim) if state is None else state
    if layout == "plain":
        torch.save(state, folder / "dac" / "weights.pth")
    elif layout == "wrapped":
        torch.save({"state_dict": state, "metadata": {"step": 10, "note": "x"}}, folder / "dac" / "weights.pth")
    elif layout == "ema":
        write_release_ema(folder, state, step=123)
    return folder


@pytest.mark.parametrize("dim, layout", [(64, "plain"), (64, "wrapped"), (64, "ema"),
                                         (16, "plain"), (16, "wrapped"), (16, "ema")])
def test_import_all_layouts(tmp_path, dim, layout):
    src = _release_folder(tmp_path, dim, layout, distill=(dim == 64))
    out = import_official(src, tmp_path / "out", ema=(layout == "ema"))
    released = _released_state(dim)
    expected = {k: v for k, v in released.items() if not k.startswith("projectors.")}
    if (dim, layout) in ((64, "plain"), (16, "ema")):  # a 72 M-param build costs seconds: two cases
        vae = SemanticVAE.from_pretrained(out)
        assert vae.latent_dim == dim and vae.frame_rate == 40.0
        ours = vae.state_dict()
    else:
        ours = load_file(str(out / "model.safetensors"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["latent_dim"] == dim and cfg["semantic"] == (dim == 64)
    assert cfg["teacher"] == ("microsoft/wavlm-large" if dim == 64 else None)
    assert set(ours) == set(expected)
    assert all(torch.equal(ours[k], v) for k, v in expected.items())
    proj = load_file(str(out / "projector.safetensors"))
    assert set(proj) == {k[len("projectors."):] for k in released if k.startswith("projectors.")}
    assert "model.0.weight" in proj and torch.equal(proj["model.0.weight"], released["projectors.model.0.weight"])
    assert json.loads((out / "official_metainfo.json").read_text())["DAC"]["vae_dim"] == dim


def test_legacy_weight_norm_names_and_cli(tmp_path, capsys):
    released = _released_state(16)
    legacy = {}
    for k, v in released.items():
        k = k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
        legacy[k] = v
    assert any(k.endswith("weight_g") for k in legacy)
    src = _release_folder(tmp_path, 16, "plain", distill=False, state=legacy)
    out = tmp_path / "out"
    out.mkdir()  # an earlier model dir: refused without --overwrite (exit 2, one line naming it)
    (out / "config.json").write_text("{}")  # (an empty folder counts as absent)
    assert cli_main(["vae", "import", str(src), "-o", str(out), "--no-ema"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["vae", "import", str(src), "-o", str(out), "--no-ema", "--no-projector", "--overwrite"]) == 0
    assert not (out / "projector.safetensors").exists()
    got = load_file(str(out / "model.safetensors"))
    k = "encoder.block.0.parametrizations.weight.original0"
    assert torch.equal(got[k], released[k])
    assert torch.equal(got["decoder.conv_post.parametrizations.weight.original1"],
                       released["decoder.conv_post.parametrizations.weight.original1"])
    # the EMA file is the default and is missing here
    assert cli_main(["vae", "import", str(src), "-o", str(tmp_path / "o2")]) == 2
    assert "ema_state_dict.pth: missing" in capsys.readouterr().err


def test_strict_mismatch_names_the_keys(tmp_path):
    state = dict(_released_state(16))
    del state["fc_mu.bias"]
    state["encoder.extra.weight"] = torch.zeros(3)
    state["fc_var.weight"] = torch.zeros(16, 15)
    src = _release_folder(tmp_path, 16, "wrapped", distill=False, state=state)
    with pytest.raises(CheckpointError) as info:
        import_official(src, tmp_path / "out", ema=False)
    msg = str(info.value)
    assert "missing: fc_mu.bias" in msg and "unexpected: encoder.extra.weight" in msg
    assert "fc_var.weight (16, 15) != (16, 16)" in msg and "weights.pth" in msg
    assert not (tmp_path / "out").exists()


def test_wrong_dim_in_metainfo_is_a_shape_error(tmp_path):
    src = _release_folder(tmp_path, 16, "plain", distill=False)
    meta = _metainfo(64, False)  # claims D=64, weights are D=16
    (src / "metainfo.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape mismatch: .*"):
        import_official(src, tmp_path / "out", ema=False)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_pickled_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = _release_folder(tmp_path, 16, "plain", distill=False, state={"fc_mu.bias": torch.zeros(16)})
    torch.save({"state_dict": {"fc_mu.bias": torch.zeros(16)}, "evil": _Payload()}, src / "dac" / "weights.pth")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        import_official(src, tmp_path / "out", ema=False)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_metainfo_errors(tmp_path):
    meta = _metainfo(64, True)
    meta["Decoder"]["attn_proj"] = True
    with pytest.raises(ConfigError, match="attn_proj"):
        config_from_metainfo(meta)
    meta = _metainfo(64, True)
    meta["Decoder"]["num_mels"] = 32
    with pytest.raises(ConfigError, match="num_mels 32 != DAC.vae_dim 64"):
        config_from_metainfo(meta)
    (tmp_path / "release").mkdir()
    with pytest.raises(CheckpointError, match="metainfo.json: missing"):
        import_official(tmp_path / "release", tmp_path / "out")
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "config.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        import_official(tmp_path / "release", tmp_path / "exists")
    with pytest.raises(OutputPathError, match="inside the input"):  # even before the release is read
        import_official(tmp_path / "release", tmp_path / "release" / "out", overwrite=True)
