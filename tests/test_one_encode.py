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
    from eval.codecs import load_codec

    vae_dir, corpus, latents = tiny
    codec = load_codec(str(vae_dir))
    reference = _latent_set_by_id(latents)
    rows = load_corpus(corpus)["train"]
    assert len(rows) == len(reference) == 4
    for r in rows:
        wav, _ = load_audio(r["audio"], codec.sample_rate)
        got = codec.encode(wav)
        assert got.shape == reference[r["id"]].shape
        torch.testing.assert_close(got, reference[r["id"]], rtol=0, atol=1e-5)
