import json
from pathlib import Path

import pytest
import torch

from svae_tts.errors import ConfigError
from vae import SemanticVAE, VAEError, load_preset

MANIFEST = Path(__file__).resolve().parent / "data" / "semantic_vae_official_state_dict.json"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SemanticVAE.from_preset("tiny").eval()


@pytest.mark.parametrize("preset, key", [("semantic_vae", "vae_dim_64"), ("acoustic_vae_dim64", "vae_dim_64"),
                                         ("acoustic_vae_dim16", "vae_dim_16")])
def test_state_dict_matches_release_manifest(preset, key):
    expected = json.loads(MANIFEST.read_text())[key]
    expected = {k: tuple(v) for k, v in expected.items() if not k.startswith("projectors.")}
    with torch.device("meta"):
        model = SemanticVAE(load_preset(preset))
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected


def test_every_released_preset_has_a_training_config_that_loads():
    """Presets are architectures, configs are training runs: each released model has its recipe."""
    from svae_tts.config import load_config
    from vae.config import PRESETS_DIR, RELEASED_PRESETS, preset_names
    from vae.train_config import CONFIGS_DIR, TrainConfig, training_config_path

    released = {p.stem for p in PRESETS_DIR.glob("*.yaml") if "zkniu/Semantic-VAE" in p.read_text().splitlines()[0]}
    assert released == set(RELEASED_PRESETS) and released <= set(preset_names())
    for name in RELEASED_PRESETS:
        assert training_config_path(name) == CONFIGS_DIR / f"{name}.yaml"
        cfg = load_config(TrainConfig, training_config_path(name))
        assert cfg.vae == name and cfg.teacher.enabled == load_preset(name).semantic
        assert cfg.max_steps == 600_000 and cfg.data.segment_seconds == 3.0  # the release's budget
    with pytest.raises(ConfigError, match="unknown VAE training config 'dim99'.*acoustic_vae_dim16"):
        training_config_path("dim99")


def test_properties_and_hop_mismatch():
    cfg = load_preset("semantic_vae")
    assert (cfg.hop_length, cfg.frame_rate, cfg.latent_dim) == (400, 40.0, 64)
    with pytest.raises(ConfigError, match="encoder hop"):
        load_preset("tiny", ["encoder_rates=[2,4,5,5]"])


@pytest.mark.parametrize("n", [16000, 16001, 399, 1])
def test_encode_decode_shapes_and_trim(tiny, n):
    wav = torch.randn(2, n) * 0.1
    with torch.no_grad():
        z, mu, logvar = tiny.encode(wav)
        t = -(-n // 400)
        assert z.shape == mu.shape == logvar.shape == (2, t, 16)
        assert logvar.abs().max() <= 12
        assert tiny.decode(mu).shape == (2, t * 400)
        out = tiny.decode(mu, length=n)
        assert out.shape == (2, n) and out.abs().max() <= 1.0
        assert tiny(wav)["audio"].shape == (2, n)


def test_mean_is_deterministic_sample_is_not(tiny):
    wav = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        z1, mu1, _ = tiny.encode(wav, generator=torch.Generator().manual_seed(1))
        z2, mu2, _ = tiny.encode(wav, generator=torch.Generator().manual_seed(2))
    assert torch.equal(mu1, mu2) and not torch.equal(z1, z2)


def test_bad_input_shapes(tiny):
    with pytest.raises(VAEError, match="zero-length"):
        tiny.encode(torch.zeros(1, 0))
    with pytest.raises(VAEError, match=r"latents \(B, T, 16\)"):
        tiny.decode(torch.zeros(1, 5, 8))


def test_save_load_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "vae")
    loaded = SemanticVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == tiny.config
    wav = torch.randn(1, 4000) * 0.1
    with torch.no_grad():
        _, mu_a, _ = tiny.encode(wav)
        _, mu_b, _ = loaded.encode(wav)
        assert torch.equal(mu_a, mu_b)
        assert torch.equal(tiny.decode(mu_a), loaded.decode(mu_b))
