"""One padded encode: every stage that turns audio into VAE latents gets the latents the TTS trains on."""

import pytest
import torch

from svae_tts.audio import load_audio


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny VAE dir, a four-clip tone corpus and its latent set (the stage's own extraction)."""
    from data_prep.builders import build_csv
    from data_prep.corpus import SplitSpec
    from data_prep.latents import extract_latents
    from tests.shared_fixtures import save_tiny_vae, write_tone_list

    root = tmp_path_factory.mktemp("one_encode")
    vae_dir = save_tiny_vae(root / "vae")
    (root / "audio").mkdir()
    corpus = root / "corpus"
    build_csv(write_tone_list(root / "audio", 4), corpus, split=SplitSpec(test_size=0))
    latents = extract_latents(corpus, root / "latents", str(vae_dir), batch_size=3)
    return vae_dir, corpus, latents


def _latent_set_by_id(folder):
    from svae_tts.formats.latent_set import load_latent_set

    ds = load_latent_set(folder).dataset["train"]
    return {r["id"]: torch.tensor(r["latents"]) for r in ds}


def test_codec_encodes_like_the_latent_set(tiny):
    """The probe and the reconstruction eval score the latents the TTS is trained on, end frames included
    (the codec once encoded without the end padding, and its last ~10 frames differed)."""
    from svae_tts.formats.corpus import load_corpus
    from eval.codecs import features, load_codec

    vae_dir, corpus, latents = tiny
    codec = load_codec(str(vae_dir))
    reference = _latent_set_by_id(latents)
    rows = load_corpus(corpus)["train"]
    assert len(rows) == len(reference) == 4
    for r in rows:
        wav, _ = load_audio(r["audio"], codec.sample_rate)
        got = features(codec, wav)
        assert got.shape == reference[r["id"]].shape
        torch.testing.assert_close(got, reference[r["id"]], rtol=0, atol=1e-5)


def test_codec_round_trip_is_the_tts_decode_of_those_latents(tiny, tmp_path):
    """The eval's codec is the TTS's feature space: its reconstruction is the VAE decode of the
    latent-set latents (to the sample), and a mel codec's features are the mel the TTS trains on."""
    from eval.codecs import codec_facts, load_codec
    from svae_tts.formats.corpus import load_corpus
    from tts_recipes.feature_space import MelFeatureSpace, write_random_vocos

    vae_dir, corpus, latents = tiny
    codec = load_codec(str(vae_dir))
    assert codec_facts(codec) == {"kind": "latent", "semantic": bool(codec.vae.config.semantic),
                                  "latent_dim": codec.vae.latent_dim, "sample_rate": codec.vae.sample_rate}
    reference = _latent_set_by_id(latents)
    r = load_corpus(corpus)["train"][0]
    wav, _ = load_audio(r["audio"], codec.sample_rate)
    with torch.no_grad():
        want = codec.vae.decode(reference[r["id"]][None], length=wav.numel())[0]
    got = codec.reconstruct(wav)
    assert got.shape == wav.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)

    vocos = write_random_vocos(tmp_path / "vocos", dim=8, intermediate_dim=16, num_layers=1)
    mel = load_codec(f"mel:{vocos}")
    tone = torch.sin(torch.arange(6000) / 24_000 * 2 * torch.pi * 220) * 0.3
    trained_on = MelFeatureSpace(str(vocos)).encode(tone)  # what a mel TTS's dataset computes
    assert torch.equal(mel.encode(tone), trained_on) and mel.reconstruct(tone).shape == tone.shape
