"""Training: loss falls, one utterance overfits, resume == uninterrupted, the run dir follows the contract."""

import json
import re
import statistics

import pytest
import torch

from svae_tts.errors import OutputExistsError
from tests.tts_fixtures import build_assets, loss_list, one_torch_thread, tiny_cfg  # noqa: F401
from tts_recipes.model import TTSModel
from tts_recipes.train import train
from tests.shared_fixtures import PlantedCode


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("tts_train"))


def test_loss_falls_on_a_handful_of_utterances(assets, tmp_path):
    r = train(tiny_cfg(tmp_path / "run", assets["latents"], "max_steps=48", "save_every=0"))
    losses = loss_list(r)
    assert len(losses) == 48 and all(l > 0 for l in losses)
    assert statistics.mean(losses[-12:]) < 0.85 * statistics.mean(losses[:12])


def test_overfits_one_utterance(assets, tmp_path):
    r = train(tiny_cfg(tmp_path / "run", assets["latents"], "max_steps=100", "save_every=0", "data.max_utterances=1",
                       "optim.lr=2e-3", "optim.warmup_steps=10", "optim.decay_steps=100000"))
    losses = loss_list(r)
    assert statistics.mean(losses[-20:]) < 0.4 * statistics.mean(losses[:10])


def test_resume_equals_uninterrupted(assets, tmp_path):
    k = 6
    common = ["save_every=6", f"optim.decay_steps={2 * k}", "optim.warmup_steps=3", "optim.ema_update_after_step=2"]
    full = train(tiny_cfg(tmp_path / "a", assets["latents"], f"max_steps={2 * k}", *common))
    first = train(tiny_cfg(tmp_path / "b", assets["latents"], f"max_steps={k}", *common))
    assert sorted(first["losses"]) == list(range(1, k + 1))
    second = train(tiny_cfg(tmp_path / "b", assets["latents"], f"max_steps={2 * k}", *common))
    assert sorted(second["losses"]) == list(range(k + 1, 2 * k + 1))
    for step in range(k + 1, 2 * k + 1):
        assert second["losses"][step] == pytest.approx(full["losses"][step], abs=1e-5), step
    a = TTSModel.from_pretrained(tmp_path / "a" / "exports" / "step_00000012").state_dict()
    b = TTSModel.from_pretrained(tmp_path / "b" / "exports" / "step_00000012").state_dict()
    assert all(torch.allclose(a[key], b[key], atol=1e-6) for key in a)


def test_run_dir_layout_and_exports(assets, tmp_path):
    run = tmp_path / "run"
    r = train(tiny_cfg(run, assets["latents"], "max_steps=6", "save_every=2", "keep_last=2", "sample_every=6",
                       "num_samples=1", "sample_nfe=2"))
    assert r["step"] == 6
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000004", "step_00000006"]
    assert sorted(p.name for p in (run / "exports").iterdir()) == ["step_00000002", "step_00000004", "step_00000006"]
    assert (run / "config.yaml").is_file() and list((run / "tb").iterdir())
    assert len(list((run / "samples" / "step_00000006").glob("*.wav"))) == 1
    cfg = json.loads((run / "exports" / "step_00000006" / "config.json").read_text())
    assert cfg["feature"]["kind"] == "latent" and cfg["feature"]["vae"] == "vae"  # its own copy, inside it
    assert cfg["feature"]["vae_source"] == str(assets["vae_dir"])
    assert (run / "exports" / "step_00000006" / "vae" / "model.safetensors").is_file()
    assert len(cfg["feature"]["mean"]) == 16 and cfg["feature"]["frame_rate"] == 40.0
    assert cfg["vocab"][0] == "<unk>" and cfg["dit"]["dim"] == 64
    model = TTSModel.from_pretrained(run / "exports" / "step_00000006")
    assert model.feature_dim == 16
    # A finished run resumes to a no-op; a run dir without checkpoints is never overwritten silently.
    again = train(tiny_cfg(run, assets["latents"], "max_steps=6"))
    assert again["losses"] == {}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        train(tiny_cfg(tmp_path / "other", assets["latents"], "max_steps=2"))


def test_train_cli_in_process(assets, tmp_path):
    from svae_tts.cli import main

    rc = main(["tts", "train", "--config", "tiny", f"run_dir={tmp_path / 'run'}",
               f"data.latent_set={assets['latents']}", "max_steps=2", "save_every=0"])
    assert rc == 0 and (tmp_path / "run" / "exports" / "step_00000002" / "model.safetensors").is_file()
    assert main(["tts", "train", "--config", "tiny", "data.nope=1"]) == 2


def test_bad_data_configs_are_refused(assets, tmp_path):
    import shutil

    from data_prep.errors import DataError
    from svae_tts.errors import ConfigError
    from tts_recipes.errors import TTSError
    from tts_recipes.train import DataConfig, build_data

    with pytest.raises(ConfigError, match="set data.latent_set"):
        build_data(DataConfig())
    with pytest.raises(ConfigError, match="use feature=latent"):
        build_data(DataConfig(latent_set=str(assets["latents"]), feature="mel"))
    with pytest.raises(ConfigError, match="needs data.latent_set"):
        build_data(DataConfig(corpus=str(assets["corpus"]), feature="latent"))
    with pytest.raises(DataError, match=re.escape(str(tmp_path))):
        build_data(DataConfig(latent_set=str(tmp_path)))
    with pytest.raises(TTSError, match="no usable training utterance"):
        build_data(DataConfig(latent_set=str(assets["latents"]), min_frames=10**6))
    moved = tmp_path / "latents"
    shutil.copytree(assets["latents"], moved)
    info = json.loads((moved / "latent_info.json").read_text())
    del info["vae"]
    (moved / "latent_info.json").write_text(json.dumps(info))
    with pytest.raises(TTSError, match="does not name its VAE; set data.vae"):
        build_data(DataConfig(latent_set=str(moved)))
    space, train_ds, test_ds = build_data(DataConfig(latent_set=str(moved), vae=str(assets["vae_dir"])))
    assert space.vae_ref == str(assets["vae_dir"]) and len(train_ds) == 6 and len(test_ds) == 2


def test_no_batch_fits_and_bad_steps(assets, tmp_path):
    from svae_tts.errors import ConfigError
    from tts_recipes.errors import TTSError

    with pytest.raises(TTSError, match="no training batch fits frames_per_batch=2"):
        train(tiny_cfg(tmp_path / "a", assets["latents"], "data.frames_per_batch=2"))
    with pytest.raises(ConfigError, match=r"steps: 0 is too small \(allowed: an integer > 0\)"):
        train(tiny_cfg(tmp_path / "b", assets["latents"], "max_steps=0"))  # refused as the config is read


def test_latent_space_encodes_like_data_prep(assets, tmp_path):
    """A synthesis prompt must be encoded exactly as the latent set the model trained on, last frames included."""
    from data_prep.latents import extract_latents
    from svae_tts.formats.latent_set import load_latent_set
    from svae_tts.audio import load_audio
    from tts_recipes.feature_space import LatentFeatureSpace

    ls = load_latent_set(extract_latents(assets["corpus"], tmp_path / "lat", str(assets["vae_dir"])))
    space = LatentFeatureSpace(str(assets["vae_dir"]), ls.mean, ls.std)
    row = ls.dataset["test"][0]
    wav, _ = load_audio(assets["dsd"]["test"].filter(lambda r: r["id"] == row["id"])[0]["audio"], space.sample_rate)
    expected = space.normalize(torch.tensor(row["latents"]))
    assert torch.allclose(space.encode(wav)[0], expected, atol=1e-4)


def test_samples_leave_the_training_rng_alone(assets, tmp_path):
    """Sampling during training (CFM.sample reseeds torch) must not move the RNG the training steps draw from."""
    from tts_recipes.model import TTSConfig
    from tts_recipes.text import Vocabulary
    from tts_recipes.train import DataConfig, _log_samples, build_data

    cfg = tiny_cfg(tmp_path / "run", assets["latents"], "num_samples=2", "sample_nfe=2")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    space, train_ds, _ = build_data(DataConfig(latent_set=str(assets["latents"])))
    vocab = Vocabulary.build(train_ds.texts)
    model = TTSModel(TTSConfig(dit=cfg.model, cfm=cfg.cfm, feature=space.to_config(), vocab=vocab.chars)).to(device)
    space.to(device)
    torch.manual_seed(123)
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if device == "cuda" else None
    _log_samples(model, space, train_ds, cfg, tmp_path / "run", 1, None, device)
    assert len(list((tmp_path / "run" / "samples" / "step_00000001").glob("*.wav"))) == 2
    assert torch.equal(torch.get_rng_state(), cpu_state)
    if cuda_state is not None:
        assert torch.equal(torch.cuda.get_rng_state(), cuda_state)


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin"])
def test_resume_refuses_planted_pickle_and_runs_nothing(assets, tmp_path, planted, capsys):
    """A run dir from elsewhere is untrusted: a pickle that needs full unpickling is refused, nothing runs."""
    from svae_tts.cli import main
    from svae_tts.errors import CheckpointError

    run = tmp_path / "run"
    train(tiny_cfg(run, assets["latents"], "max_steps=1"))
    marker = tmp_path / "marker"
    torch.save({"state": PlantedCode(marker)}, run / "checkpoints" / "step_00000001" / planted)
    with pytest.raises(CheckpointError, match=planted):
        train(tiny_cfg(run, assets["latents"], "max_steps=2"))
    assert not marker.exists()
    assert main(["tts", "train", "--config", "tiny", f"run_dir={run}", f"data.latent_set={assets['latents']}",
                 "max_steps=2"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and planted in lines[0] and "Traceback" not in err
    assert not marker.exists()


def test_killed_before_export_exports_on_resume(assets, tmp_path, monkeypatch):
    """Killed after the checkpoint rename, before its export: resuming writes that export and cleans the leftovers."""
    common = ["save_every=2", "optim.ema_update_after_step=0", "optim.ema_update_every=1"]
    train(tiny_cfg(tmp_path / "full", assets["latents"], "max_steps=2", *common))
    real = TTSModel.save_pretrained

    def killed(self, directory, **kw):
        # what a SIGKILL inside the export leaves behind: the half-written temporary dir
        leftover = directory.parent / f".{directory.name}.tmp-deadbeef"
        leftover.mkdir(parents=True)
        (leftover / "config.json").write_text("{")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(TTSModel, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cfg(tmp_path / "run", assets["latents"], "max_steps=2", *common))
    monkeypatch.setattr(TTSModel, "save_pretrained", real)
    run = tmp_path / "run"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000002"]
    assert not (run / "exports" / "step_00000002").exists()
    again = train(tiny_cfg(run, assets["latents"], "max_steps=2", *common))
    assert again["losses"] == {} and again["exports"] == [str(run / "exports" / "step_00000002")]
    assert [p.name for p in (run / "exports").iterdir()] == ["step_00000002"]  # no .tmp left
    a = TTSModel.from_pretrained(tmp_path / "full" / "exports" / "step_00000002").state_dict()
    b = TTSModel.from_pretrained(run / "exports" / "step_00000002").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_vocab_on_resume_is_one_line(tmp_path):
    from svae_tts.errors import CheckpointError
    from tts_recipes.train import _read_vocab

    for text in ['{"chars": 5}', "[1]", "{", '{"chars": ["a"]}']:
        (tmp_path / "vocab.json").write_text(text)
        with pytest.raises(CheckpointError, match="vocab.json: not a vocabulary this run can resume with"):
            _read_vocab(tmp_path / "vocab.json")
    (tmp_path / "vocab.json").write_text('{"chars": ["<unk>", "a"]}')
    assert _read_vocab(tmp_path / "vocab.json").chars == ["<unk>", "a"]


def test_resume_refuses_another_text_layout(tmp_path):
    """Text input, voice and upsampling change no weight's shape: a resume that changed them would
    go on silently with a vocabulary and a layout the model was not trained with."""
    from svae_tts.errors import ConfigError
    from tts_recipes.train import _read_vocab

    path = tmp_path / "vocab.json"
    layout = {"text_input": "characters", "phoneme_voice": "en-us", "text_average_upsampling": True}
    path.write_text(json.dumps({"chars": ["<unk>", "a"], "layout": layout}))
    assert _read_vocab(path, layout).chars == ["<unk>", "a"]
    with pytest.raises(ConfigError, match="trained with text_input='characters', not 'phonemes'"):
        _read_vocab(path, {**layout, "text_input": "phonemes"})
    path.write_text('{"chars": ["<unk>", "a"]}')  # written before the layout was recorded: filler padding
    with pytest.raises(ConfigError, match="trained with text_average_upsampling=False, not True"):
        _read_vocab(path, layout)
