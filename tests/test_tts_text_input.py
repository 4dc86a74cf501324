"""The DiT's text input: characters or eSpeak phonemes, laid over the frames by F5-TTS's filler
padding or by average upsampling; each chosen in the config and kept by a saved model (an old
config without the keys keeps what it was trained with)."""

import json

import pytest
import torch

from svae_tts.errors import ConfigError
from tests.tts_fixtures import one_torch_thread  # noqa: F401
from tts_recipes.errors import TTSError
from tts_recipes.model import DiTConfig, TTSConfig, TTSModel
from tts_recipes.text import UNK, model_text


def _model(upsample: bool) -> TTSModel:
    torch.manual_seed(0)
    dit = DiTConfig(dim=32, depth=1, heads=2, dim_head=16, ff_mult=2, text_dim=16, conv_layers=1, dropout=0.0,
                    text_average_upsampling=upsample)
    return TTSModel(TTSConfig(dit=dit, feature={"dim": 4}, vocab=[UNK, *"abcdefgh"])).eval()


def _text_embedding(model: TTSModel, text: str, frames: int) -> torch.Tensor:
    ids = model.vocab.encode([text])
    with torch.no_grad():
        return model.cfm.transformer.text_embed(ids, seq_len=frames)[0]


def _changed_frames(model: TTSModel, frames: int = 40) -> torch.Tensor:
    """Frames whose text embedding changes when only the last of 8 characters changes."""
    a = _text_embedding(model, "abcdefga", frames)
    b = _text_embedding(model, "abcdefgh", frames)
    return (a - b).abs().amax(-1) > 1e-6


def test_average_upsampling_puts_each_character_over_its_share_of_the_frames():
    changed = _changed_frames(_model(upsample=True))
    # 8 characters over 40 frames: the last one covers frames 35..39; one ConvNeXt layer (kernel 7)
    # reaches 3 characters back, so nothing before frame 20 may change, and the tail must
    assert changed[35:].all() and not changed[:20].any()


def test_filler_padding_keeps_the_text_at_the_start():
    changed = _changed_frames(_model(upsample=False))
    # F5-TTS's default: the characters sit on frames 0..7 and the rest is filler
    assert changed[7] and not changed[8:].any()


def test_the_choice_survives_save_and_load(tmp_path):
    model = _model(upsample=True)
    model.save_pretrained(tmp_path / "m")
    loaded = TTSModel.from_pretrained(tmp_path / "m")
    assert loaded.config.dit.text_average_upsampling is True
    assert torch.equal(_changed_frames(loaded), _changed_frames(model))


def test_a_config_written_before_the_option_loads_with_filler_padding(tmp_path):
    _model(upsample=False).save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["dit"]["text_average_upsampling"], cfg["dit"]["text_mask_padding"], cfg["text_input"]
    path.write_text(json.dumps(cfg))
    old = TTSModel.from_pretrained(tmp_path / "m")
    assert old.config.dit.text_average_upsampling is False and old.model_text("Hi  there") == "Hi there"


def test_upsampling_without_padding_mask_is_refused():
    with pytest.raises(ConfigError, match="text_average_upsampling needs text_mask_padding"):
        DiTConfig(text_average_upsampling=True, text_mask_padding=False)


def test_phoneme_text_is_espeak_ipa_in_the_model_voice():
    assert model_text("The  driver", "characters") == "The driver"
    ipa = model_text("The  driver", "phonemes")
    assert ipa.split()[0].startswith("ð") and "ɹ" in ipa and "T" not in ipa and "  " not in ipa
    assert model_text("The driver", "phonemes", voice="en-gb-x-rp") != ipa  # the voice is the accent
    with pytest.raises(TTSError, match="phoneme_voice 'xx-nowhere'"):
        model_text("The driver", "phonemes", voice="xx-nowhere")
    with pytest.raises(TTSError, match="no phonemes for '...'"):
        model_text("...", "phonemes")
    with pytest.raises(TTSError, match="text_input 'bytes'"):
        model_text("x", "bytes")
    with pytest.raises(ConfigError, match="TTSConfig.text_input: 'bytes' is not one of"):
        TTSConfig(feature={"dim": 4}, vocab=[UNK, "a"], text_input="bytes")


def test_a_phoneme_model_trains_on_ipa_and_synthesises_from_text(tmp_path, caplog):
    from tests.tts_fixtures import build_assets, tiny_cfg
    from tts_recipes.synthesis import Synthesizer
    from tts_recipes.train import train

    assets = build_assets(tmp_path / "assets", n_train=4, n_test=1)
    r = train(tiny_cfg(tmp_path / "run", assets["latents"], "max_steps=2", "save_every=2",
                       "data.text_input=phonemes", "model.text_average_upsampling=true"))
    vocab = json.loads((tmp_path / "run" / "vocab.json").read_text())["chars"]
    expected = {c for row in assets["dsd"]["train"] for c in model_text(row["text"], "phonemes")}
    assert set(vocab) == {UNK, *expected}
    model = TTSModel.from_pretrained(r["exports"][-1])
    assert model.config.text_input == "phonemes" and model.config.dit.text_average_upsampling
    train_text = assets["dsd"]["train"][0]["text"]
    synth = Synthesizer.from_pretrained(r["exports"][-1])
    with caplog.at_level("WARNING"):
        wav = synth.synthesize(train_text, assets["ref_wav"], assets["ref_text"], nfe=2, seed=0)
    assert wav.numel() > 0 and torch.isfinite(wav).all()
    assert not [m for m in caplog.messages if "not in the model's vocabulary" in m]
    # lengths are planned in the symbols the model reads: "7" and "seven" are the same phonemes
    ref_text = "Hello there."
    plans = [synth._plan_chunks(t, model.model_text(ref_text), ref_text, 200, 1.0, None) for t in ("7", "seven")]
    assert plans[0] == plans[1] == ([model_text("seven", "phonemes")], plans[0][1])
    with pytest.raises(TTSError, match="no phonemes for"):
        synth.synthesize("...", assets["ref_wav"], assets["ref_text"], nfe=2, seed=0)
