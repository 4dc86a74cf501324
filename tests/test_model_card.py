"""Model cards: every export and import carries a README.md saying what it is, how it was made and how to load it."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.model_card import (CARD_NAME, ModelCard, absolute_paths, card_facts, card_for_model_dir, shown_ref,
                                  write_model_card)
from tests.tts_fixtures import build_assets, one_torch_thread, tiny_cfg  # noqa: F401


def _front_matter(text: str) -> dict[str, str]:
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, text[:200]
    return dict(line.split(": ", 1) for line in m.group(1).splitlines() if ": " in line)


def test_render_front_matter_sections_and_left_out_facts():
    card = ModelCard(title="T", summary="S", model={"latent dim": "16"}, training={"steps": "4"},
                     usage=[("bash", "svae-tts x MODEL")], tags=["speech", 'odd "tag"'], license="cc-by-4.0")
    text = card.render()
    meta = _front_matter(text)
    assert meta == {"library_name": '"svae-tts"', "license": '"cc-by-4.0"'}
    assert '- "odd \\"tag\\""' in text
    assert "## How it was trained" in text and "| steps | 4 |" in text
    assert "## Metrics" not in text  # no metrics known: no section
    assert "license" not in ModelCard(title="T", summary="S").render()  # unknown: left out


@pytest.fixture(scope="module")
def tts_export(tmp_path_factory):
    from tts_recipes.train import train

    root = tmp_path_factory.mktemp("card_tts")
    assets = build_assets(root)
    train(tiny_cfg(root / "run", assets["latents"], "max_steps=3", "seed=5", "log_every=1"))
    return root / "run" / "exports" / "step_00000003", assets


def test_a_tts_export_has_a_card_naming_its_steps_space_and_how_to_load_it(tts_export):
    export, assets = tts_export
    text = (export / CARD_NAME).read_text()
    assert _front_matter(text)["library_name"] == '"svae-tts"' and '- "text-to-speech"' in text
    assert "| steps | 3 |" in text and "| seed | 5 |" in text
    assert f"| data.latent_set | {assets['latents'].name} |" in text  # a path is shown as its last component
    assert absolute_paths(text) == [] and str(export.parent.parent.parent) not in text
    assert "| text input | characters |" in text and "VAE latents, 16-dim" in text
    assert "svae-tts synthesize --model MODEL" in text and "Synthesizer.from_pretrained" in text
    assert re.search(r"\| training loss \(mean of the last \d+ steps\) \| [0-9.]+ \|", text)
    assert re.search(r"\| parameters \| [0-9.]+ M \|", text)


def test_a_tts_export_names_its_vae_and_the_hash_of_its_weights(tts_export):
    """Card, config.json and Synthesizer agree on which VAE the latents came from: its folder's
    name (no local path) and the sha256 of the weights file the latent set was made with."""
    import hashlib
    import json

    from svae_tts.model_card import expected_vae
    from tts_recipes.synthesis import Synthesizer

    export, assets = tts_export
    sha = hashlib.sha256((assets["vae_dir"] / "model.safetensors").read_bytes()).hexdigest()
    feature = json.loads((export / "config.json").read_text())["feature"]
    assert feature["vae_name"] == assets["vae_dir"].name and feature["vae_weights_sha256"] == sha
    text = (export / CARD_NAME).read_text()
    assert f"| VAE | {assets['vae_dir'].name} |" in text and f"| VAE weights sha256 | {sha} |" in text
    assert Synthesizer.from_pretrained(export).expected_vae == {"name": assets["vae_dir"].name, "weights_sha256": sha}
    # a dir written before these keys: read from where its VAE was bundled from and the bundled hashes
    old = {k: v for k, v in feature.items() if k not in ("vae_name", "vae_weights_sha256")}
    assert expected_vae(old) == {"name": assets["vae_dir"].name, "weights_sha256": sha}
    assert expected_vae({"kind": "latent", "vae": "owner/some-vae"}) == {"name": "owner/some-vae", "weights_sha256": None}
    assert expected_vae({"kind": "mel", "vocos": "charactr/vocos-mel-24khz"}) is None
    card = card_for_model_dir(export).render()  # rendered again (push --rewrite-card): the same facts
    assert f"| VAE weights sha256 | {sha} |" in card


def test_a_vae_export_and_an_import_have_cards(tmp_path):
    from svae_tts.cli import main
    from svae_tts.config import load_config
    from tests.shared_fixtures import save_tiny_release
    from vae.train import train
    from vae.train_config import TrainConfig, training_config_path

    audio = tmp_path / "audio"
    audio.mkdir()
    t = np.arange(8000) / 16000
    for i in range(4):
        sf.write(audio / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (120 + 30 * i) * t)).astype(np.float32), 16000)
    cfg = load_config(TrainConfig, training_config_path("tiny_acoustic"), [
        f"run_dir={tmp_path / 'run'}", f"data.train={audio}", "data.num_workers=0", "data.batch_size=2",
        "data.segment_seconds=0.25", "data.valid_items=1", "data.valid_seconds=0.25", "discriminator.periods=[2,3]",
        "discriminator.fft_sizes=[512]", "progress=false", "log_every=1", "valid_every=2", "export_every=0",
        "save_every=0", "max_steps=2", "seed=3"])
    result = train(cfg)
    text = (result.last_export / CARD_NAME).read_text()
    assert "# acoustic VAE" in text and "| steps | 2 |" in text and "| seed | 3 |" in text
    assert "| data.train | audio |" in text and str(tmp_path) not in text and "| latent rate | 40 frames/s (hop 400) |" in text
    assert "validation mel distance (EMA model, step 2)" in text
    assert 'load_vae("MODEL"' in text and "svae-tts vae reconstruct speech.wav -m MODEL" in text
    # an imported release says where it came from
    src = save_tiny_release(tmp_path / "release" / "semantic_vae")
    assert main(["vae", "import", str(src), "-o", str(tmp_path / "imported")]) == 0
    text = (tmp_path / "imported" / CARD_NAME).read_text()
    assert "# Semantic-VAE: semantic_vae" in text and "| source | semantic_vae |" in text
    assert str(tmp_path) not in text and absolute_paths(text) == []
    assert "imported, not trained here" in text and "microsoft/wavlm-large" in text


def test_a_card_the_user_wrote_is_kept_unless_asked(tts_export, tmp_path):
    import shutil

    export, _ = tts_export
    own = shutil.copytree(export, tmp_path / "mine")
    (own / CARD_NAME).write_text("my notes")
    assert write_model_card(own) is None and (own / CARD_NAME).read_text() == "my notes"
    assert write_model_card(own, overwrite=True) == own / CARD_NAME
    assert (own / CARD_NAME).read_text() == card_for_model_dir(own).render()


def test_a_path_is_shown_as_its_last_component_and_a_hub_name_as_it_is():
    assert shown_ref("/data/corpus/") == "corpus" and shown_ref("~/x/latents") == "latents"
    assert shown_ref("./runs/vae") == "vae" and shown_ref("C:\\data\\corpus") == "corpus"
    assert shown_ref("microsoft/wavlm-large") == "microsoft/wavlm-large"
    assert shown_ref("zkniu/Semantic-VAE/semantic_vae") == "zkniu/Semantic-VAE/semantic_vae"
    assert shown_ref("a/b/c/d") == "d" and shown_ref("cosine") == "cosine" and shown_ref(3) == 3


def test_a_card_reads_back_the_facts_it_was_rendered_with():
    card = ModelCard(title="T", summary="S", model={"dim": "16"}, training={"steps": "4", "odd": "a | b"},
                     metrics={"loss": "0.5"}, license="mit")
    assert card_facts(card.render()) == {"training": {"steps": "4", "odd": "a | b"}, "metrics": {"loss": "0.5"},
                                         "license": "mit"}
    assert card_facts("# my own notes\n| steps | 4 |\n") is None


def test_count_parameters_reads_the_safetensors_header(tmp_path):
    from safetensors.torch import save_file

    from svae_tts.model_card import count_parameters

    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(tmp_path / "w.safetensors"))
    assert count_parameters(tmp_path / "w.safetensors") == 17
    (tmp_path / "bad.safetensors").write_text("not safetensors")
    assert count_parameters(tmp_path / "bad.safetensors") is None
    assert count_parameters(tmp_path / "missing.safetensors") is None


def test_an_export_of_a_hub_vae_records_the_hash_of_the_cached_weights(tmp_path, offline_hub):
    """A VAE named by hub id is not bundled; its weights' hash comes from the hub cache it was
    loaded from (nothing is fetched), and is left out, not guessed, when the cache lacks it."""
    import hashlib

    from tests.shared_fixtures import put_in_hub_cache
    from tts_recipes.decoder_bundle import record_vae
    from vae import SemanticVAE

    vae_dir = SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "vae")
    put_in_hub_cache(offline_hub, "someone/tiny-vae", vae_dir)
    sha = hashlib.sha256((vae_dir / "model.safetensors").read_bytes()).hexdigest()
    feature = {"kind": "latent", "vae": "someone/tiny-vae", "dim": 16}
    assert record_vae(feature) == {**feature, "vae_name": "someone/tiny-vae", "vae_weights_sha256": sha}
    assert record_vae({**feature, "vae": "someone/elsewhere"}) == {**feature, "vae": "someone/elsewhere",
                                                                 "vae_name": "someone/elsewhere"}
    assert record_vae({"kind": "mel", "vocos": "charactr/vocos-mel-24khz"}) == {"kind": "mel",
                                                                                 "vocos": "charactr/vocos-mel-24khz"}
