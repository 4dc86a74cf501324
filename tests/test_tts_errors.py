"""Every user-facing TTSError raise outside synthesis/training runs: bad vocabularies, model configs,
feature spaces, Vocos dirs and latent rows, each named in the message. No training: well under a second each."""

import pytest
import torch

from tests.tts_fixtures import one_torch_thread  # noqa: F401
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import FeatureSpace, LatentFeatureSpace, load_vocos, write_random_vocos
from tts_recipes.model import TTSConfig, TTSModel
from tts_recipes.text import UNK, Vocabulary


@pytest.fixture(scope="module")
def tiny_vae():
    from vae import SemanticVAE

    torch.manual_seed(0)
    return SemanticVAE.from_preset("tiny").eval()


def test_bad_vocabularies_and_model_configs():
    with pytest.raises(TTSError, match="must start with '<unk>'"):
        Vocabulary(["a", "b"])
    with pytest.raises(TTSError, match="duplicate"):
        Vocabulary([UNK, "a", "a"])
    with pytest.raises(TTSError, match="training texts are empty"):
        Vocabulary.build(["", "  \n"])
    with pytest.raises(TTSError, match="lacks 'dim'"):
        TTSConfig(vocab=[UNK, "a"]).feature_dim
    with pytest.raises(TTSError, match="empty vocabulary"):
        TTSModel(TTSConfig(feature={"dim": 4}))


def test_bad_feature_space_configs(tiny_vae, tmp_path):
    with pytest.raises(TTSError, match="model dir X: unknown feature space kind 'wav'"):
        FeatureSpace.from_config({"kind": "wav"}, "model dir X")
    with pytest.raises(TTSError, match="lacks 'std'"):
        FeatureSpace.from_config({"kind": "latent", "vae": "v", "mean": [0.0]})
    d = tiny_vae.latent_dim
    with pytest.raises(TTSError, match=r"mean \(16,\) and std \(15,\) differ"):
        LatentFeatureSpace("v", torch.zeros(d), torch.ones(d - 1), vae_model=tiny_vae)
    with pytest.raises(TTSError, match="finite and positive"):
        LatentFeatureSpace("v", torch.zeros(d), torch.zeros(d), vae_model=tiny_vae)
    with pytest.raises(TTSError, match="VAE v has latent dim 16 but the statistics have 3"):
        LatentFeatureSpace("v", torch.zeros(3), torch.ones(3), vae_model=tiny_vae)
    with pytest.raises(TTSError, match=f"src needs its VAE {tmp_path / 'gone'}, which is not found"):
        LatentFeatureSpace(str(tmp_path / "gone"), torch.zeros(d), torch.ones(d), source="src")
    with pytest.raises(TTSError, match="which cannot be loaded .*missing config.json"):
        LatentFeatureSpace(str(tmp_path), torch.zeros(d), torch.ones(d))
    space = LatentFeatureSpace("v", torch.zeros(d), torch.ones(d), vae_model=tiny_vae)
    with pytest.raises(TTSError, match=r"expected a waveform \(B, N\) or \(N,\), got shape \(1, 1, 800\)"):
        space.encode(torch.zeros(1, 1, 800))


def test_bad_latent_rows_are_named(tiny_vae):
    from tts_recipes.data import LatentTTSDataset

    d = tiny_vae.latent_dim
    space = LatentFeatureSpace("v", torch.zeros(d), torch.ones(d), vae_model=tiny_vae)
    rows = [{"id": "u1", "latents": torch.zeros(5, d).tolist(), "text": "ab"},
            {"id": "u2", "latents": torch.zeros(5, d + 1).tolist(), "text": "ab"}]
    with pytest.raises(TTSError, match=r"latent set item u2: latents of shape \(5, 17\), expected \(T, 16\)"):
        LatentTTSDataset.from_split(rows, space)


def test_bad_vocos_dirs(tmp_path):
    with pytest.raises(TTSError, match=f"mel feature space: {tmp_path / 'gone'}: no such Vocos directory$"):
        load_vocos(str(tmp_path / "gone"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TTSError, match="not a Vocos dir .missing config.yaml"):
        load_vocos(str(empty))
    (empty / "config.yaml").write_text("backbone: 3\n")
    with pytest.raises(TTSError, match="cannot build Vocos from it"):
        load_vocos(str(empty))
    small = write_random_vocos(tmp_path / "small", dim=16, intermediate_dim=32, num_layers=1)
    other = write_random_vocos(tmp_path / "other", dim=8, intermediate_dim=16, num_layers=1)
    assert load_vocos(str(small)).backbone.embed.out_channels == 16
    (other / "model.safetensors").replace(small / "model.safetensors")
    with pytest.raises(TTSError, match="Vocos weights do not fit its config"):
        load_vocos(str(small))
    (small / "model.safetensors").unlink()
    with pytest.raises(TTSError, match="Vocos dir has no weights"):
        load_vocos(str(small))


def test_unreachable_vocos_hub_id(offline_hub):
    """Offline, a hub id not in the hub cache fails with one TTSError naming it (the lookup is
    huggingface_hub's own, through the core's resolve_model_dir)."""
    with pytest.raises(TTSError, match="data.vocos: charactr/vocos-mel-24khz: no such local directory, and could not fetch it as a hub name"):
        load_vocos("charactr/vocos-mel-24khz", source="data.vocos")
