"""Fine-tuning (``init_from``): a base model trained on one voice learns a voice and letters it never
heard; old ids and rows are kept, the optimiser and schedule start afresh, another feature space or
text layout is refused, and a resumed fine-tune continues from its own checkpoint alone."""

import json
import shutil

import pytest
import torch
import yaml

from svae_tts.config import to_dict
from svae_tts.errors import ConfigError
from tests.shared_fixtures import make_corpus, make_latent_set
from tests.tts_fixtures import build_assets, one_torch_thread, tiny_cfg  # noqa: F401
from tts_recipes.finetune import FIRST_LEARNED_ROW, RECORD_NAME, TEXT_EMBEDDING, merge_architecture
from tts_recipes.model import DiTConfig, TTSConfig, TTSModel
from tts_recipes.train import TTSTrainer, train

# The new voice: another pitch (a speaker the base never heard) reading words with letters the
# base's texts lack (j, k, l, p, q, v, x, z ...).
NEW_WORDS = ["jolly", "kip", "zap", "quiz", "vex", "lap", "cat", "the", "sun", "pal"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from vae.load import load_vae

    root = tmp_path_factory.mktemp("tts_finetune")
    assets = build_assets(root / "assets")
    _, voice = make_corpus(root / "voice", n_train=6, n_test=4, seed=7, words=NEW_WORDS, pitch=1.35)
    new_latents = make_latent_set(root / "new_latents", voice, load_vae(str(assets["vae_dir"])), str(assets["vae_dir"]))
    base = train(tiny_cfg(root / "base", assets["latents"], "max_steps=200", "save_every=0"))
    return {**assets, "root": root, "new_latents": new_latents, "base": base["exports"][-1]}


def _finetune_cfg(world, run_dir, *overrides, base=None):
    return tiny_cfg(run_dir, world["new_latents"], f"init_from={base or world['base']}", *overrides)


def test_a_finetune_learns_the_new_voice(world, tmp_path):
    """(a) The held-out flow-matching loss on the new voice's test items (same noise, time and mask
    for both models: eval.text_reliance's 'own' condition) falls well below the base model's."""
    from eval.text_reliance import text_reliance

    ft = train(_finetune_cfg(world, tmp_path / "ft", "max_steps=100", "save_every=0"))
    held_out = {name: text_reliance(model, world["new_latents"], split="test", items=4, seed=0)["own"]
                for name, model in (("base", world["base"]), ("finetuned", ft["exports"][-1]))}
    print("held-out loss on the new voice:", held_out)
    assert held_out["finetuned"] < 0.7 * held_out["base"]
    base, tuned = TTSModel.from_pretrained(world["base"]), TTSModel.from_pretrained(ft["exports"][-1])
    assert tuned.config.dit == base.config.dit  # the base's architecture (the tiny preset agrees with it)
    assert tuned.config.feature["mean"] == base.config.feature["mean"]  # normalised as the base was
    assert tuned.config.feature["std"] == base.config.feature["std"]


def test_b_old_ids_and_rows_are_kept_new_symbols_go_last(world, tmp_path):
    base = TTSModel.from_pretrained(world["base"])
    trainer = TTSTrainer(_finetune_cfg(world, tmp_path / "ft", "max_steps=1"))
    old, chars = base.vocab.chars, trainer.vocab.chars
    new = chars[len(old):]
    assert chars[: len(old)] == old and all(trainer.vocab.index[c] == base.vocab.index[c] for c in old)
    assert set("jkqvz") <= set(new) and new == sorted(new) and not set(new) & set(old)
    for model in (trainer.acc.unwrap_model(trainer.model), trainer.ema.ema_model):
        state, src = model.state_dict(), base.state_dict()
        assert all(torch.equal(state[k], src[k]) for k in src if k != TEXT_EMBEDDING)
        rows, old_rows = state[TEXT_EMBEDDING], src[TEXT_EMBEDDING]
        assert rows.shape[0] == len(chars) + 1 and torch.equal(rows[: len(old) + 1], old_rows)  # filler row too
        assert torch.allclose(rows[len(old) + 1:], old_rows[FIRST_LEARNED_ROW:].mean(0).expand(len(new), -1))


def test_c_another_feature_space_or_layout_is_refused(world, tmp_path):
    from svae_tts.checkpoint import WEIGHTS_NAME
    from tts_recipes.feature_space import LatentFeatureSpace, MelFeatureSpace, write_random_vocos
    from vae import SemanticVAE

    def refused(cfg, *expected):
        with pytest.raises(ConfigError) as err:
            TTSTrainer(cfg)
        msg = str(err.value)
        assert "\n" not in msg and all(e in msg for e in expected), msg

    base = TTSModel.from_pretrained(world["base"])
    dit, vocab = base.config.dit, base.vocab.chars
    mel = MelFeatureSpace(str(write_random_vocos(tmp_path / "vocos", dim=8, intermediate_dim=16, num_layers=1)))
    TTSModel(TTSConfig(dit=dit, feature=mel.to_config(), vocab=vocab)).save_pretrained(tmp_path / "mel_base")
    refused(_finetune_cfg(world, tmp_path / "a", base=tmp_path / "mel_base"),
            "trained on mel features, this run's data are latent features")
    torch.manual_seed(0)
    vae8 = SemanticVAE.from_preset("tiny", ["latent_dim=8"]).save_pretrained(tmp_path / "vae8")
    dim8 = LatentFeatureSpace(str(vae8), torch.zeros(8), torch.ones(8))
    TTSModel(TTSConfig(dit=dit, feature=dim8.to_config(), vocab=vocab)).save_pretrained(tmp_path / "dim8_base")
    refused(_finetune_cfg(world, tmp_path / "b", base=tmp_path / "dim8_base"), "dim 8 vs 16")
    torch.manual_seed(1)  # the same architecture, other weights: another VAE
    other = SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "other_vae")
    assert (other / WEIGHTS_NAME).read_bytes() != (world["vae_dir"] / WEIGHTS_NAME).read_bytes()
    refused(_finetune_cfg(world, tmp_path / "c", f"data.vae={other}"), "another VAE's latents")
    refused(_finetune_cfg(world, tmp_path / "d", "data.text_input=phonemes"),
            "trained with data.text_input='characters', this run has 'phonemes'")
    refused(_finetune_cfg(world, tmp_path / "e", "model.dim=48", "model.depth=3"),
            "model.dim=48, model.depth=3", "dim=64, depth=2")
    assert not any((tmp_path / r).exists() for r in "abcde")  # refused before the run dir is made


def test_left_out_architecture_fields_come_from_the_base():
    base = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=32, conv_layers=1, dropout=0.0,
                     text_average_upsampling=True)
    merged = merge_architecture(DiTConfig(dropout=0.2), base, "init_from x")  # a config without a model section
    assert merged == DiTConfig(**{**base.__dict__, "dropout": 0.2})  # dropout is the run's own


def test_d_optimiser_schedule_and_step_start_fresh(world, tmp_path):
    trainer = TTSTrainer(_finetune_cfg(world, tmp_path / "ft", "max_steps=2", "save_every=0"))
    assert trainer.state.step == 0 and trainer.scheduler.last_epoch == 0
    assert not trainer.optimizer.state  # no Adam moments from anywhere
    trainer.run()
    warmup, lr = trainer.cfg.optim.warmup_steps, trainer.cfg.optim.lr
    assert trainer.state.step == 2
    assert [h["lr"] for h in trainer.history] == pytest.approx([lr / warmup, 2 * lr / warmup])  # warm-up again
    assert json.loads((tmp_path / "ft" / "vocab.json").read_text())["chars"] == trainer.vocab.chars
    run_config = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert run_config["model"] == to_dict(TTSModel.from_pretrained(world["base"]).config.dit)  # the base's, recorded
    record = json.loads((tmp_path / "ft" / RECORD_NAME).read_text())
    assert record["init_from"] == str(world["base"]) and record["base"]["vocab"] == TTSModel.from_pretrained(
        world["base"]).vocab.chars


def test_e_a_resumed_finetune_does_not_read_init_from_again(world, tmp_path):
    """The base is deleted between the two halves: the resume runs from its own checkpoint and
    repeats the losses of an uninterrupted fine-tune."""
    base = tmp_path / "base_copy"
    shutil.copytree(world["base"], base)
    common = ["save_every=3", "optim.decay_steps=6"]
    full = train(_finetune_cfg(world, tmp_path / "full", "max_steps=6", *common, base=base))
    train(_finetune_cfg(world, tmp_path / "ft", "max_steps=3", *common, base=base))
    shutil.rmtree(base)
    second = train(_finetune_cfg(world, tmp_path / "ft", "max_steps=6", *common, base=base))
    assert sorted(second["losses"]) == [4, 5, 6]
    for step in (4, 5, 6):
        assert second["losses"][step] == pytest.approx(full["losses"][step], abs=1e-5)
    # a run that started from scratch does not become a fine-tune on resume
    train(tiny_cfg(tmp_path / "scratch", world["new_latents"], "max_steps=1"))
    with pytest.raises(ConfigError, match="started from scratch .* init_from applies only when a run starts"):
        train(_finetune_cfg(world, tmp_path / "scratch", "max_steps=2"))


def test_cli_refuses_a_missing_init_from_in_one_line(world, tmp_path, capsys):
    from svae_tts.cli import main

    rc = main(["tts", "train", "--config", "tiny", f"run_dir={tmp_path / 'run'}",
               f"data.latent_set={world['new_latents']}", f"init_from={tmp_path / 'nope'}"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "init_from" in lines[0] and str(tmp_path / "nope") in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
    # a run dir instead of one of its exports: the error points at the newest export
    assert main(["tts", "train", "--config", "tiny", f"run_dir={tmp_path / 'run'}",
                 f"data.latent_set={world['new_latents']}", f"init_from={world['root'] / 'base'}"]) == 2
    assert f"training run folder, not a TTS model; its newest export is {world['base']} (give that)" in \
        capsys.readouterr().err


def test_the_phoneme_voice_counts_only_for_a_phoneme_model():
    from tts_recipes.finetune import check_layout

    dit = DiTConfig(text_average_upsampling=True)
    layout = {"text_input": "characters", "phoneme_voice": "de", "text_average_upsampling": True}
    check_layout(TTSConfig(dit=dit, feature={"dim": 4}, vocab=["<unk>", "a"]), layout, "init_from x")  # never phonemised
    phonemes = TTSConfig(dit=dit, feature={"dim": 4}, vocab=["<unk>", "a"], text_input="phonemes")
    with pytest.raises(ConfigError, match="trained with data.phoneme_voice='en-us', this run has 'de'"):
        check_layout(phonemes, {**layout, "text_input": "phonemes"}, "init_from x")


def test_a_mel_model_fine_tunes_on_mel(world, tmp_path):
    """Mel has no statistics to adopt: the mel settings must match, and the run trains from the base's weights."""
    from tts_recipes.feature_space import write_random_vocos

    vocos = write_random_vocos(tmp_path / "vocos", dim=8, intermediate_dim=16, num_layers=1)
    mel = [f"data.corpus={world['corpus']}", "data.feature=mel", f"data.vocos={vocos}", "save_every=0"]
    base = train(tiny_cfg(tmp_path / "base", world["latents"], "max_steps=2", "data.latent_set=null", *mel))
    ft = TTSTrainer(tiny_cfg(tmp_path / "ft", world["latents"], "max_steps=2", "data.latent_set=null", *mel,
                             f"init_from={base['exports'][-1]}"))
    loaded = TTSModel.from_pretrained(base["exports"][-1]).state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in ft.acc.unwrap_model(ft.model).state_dict().items())
    from tts_recipes.feature_space import MelFeatureSpace

    other_hop = MelFeatureSpace(str(vocos), mel={"hop_length": 240}).to_config()
    mel_base = TTSModel.from_pretrained(base["exports"][-1])
    TTSModel(TTSConfig(dit=mel_base.config.dit, feature=other_hop, vocab=mel_base.vocab.chars)).save_pretrained(tmp_path / "hop")
    with pytest.raises(ConfigError, match=r"mel features differ from this run's data \(frame_rate 100.0 vs 93.75, "
                                          r"hop_length 240 vs 256, mel"):
        TTSTrainer(tiny_cfg(tmp_path / "ft2", world["latents"], "max_steps=2", "data.latent_set=null", *mel,
                            f"init_from={tmp_path / 'hop'}"))
