"""VAE training on CPU with the tiny preset and a tiny random-init WavLM teacher saved to a temp dir."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.config import load_config
from svae_tts.run_state import list_checkpoints
from svae_tts.trainer import TrainingDivergedError
from vae.model import SemanticVAE
from vae.train import Trainer, train
from vae.train_config import TrainConfig
from tests.shared_fixtures import PlantedCode

CONFIGS = Path(__file__).resolve().parents[1] / "vae" / "configs"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of 10 short synthetic voiced clips (some shorter than the crop) at 16 kHz."""
    root = tmp_path_factory.mktemp("audio")
    g = np.random.default_rng(0)
    for i in range(10):
        n = int(16000 * (0.3 + 0.8 * g.random()))
        t = np.arange(n) / 16000
        f0 = 100 + 150 * g.random()
        x = sum(0.25 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 5)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        sf.write(root / f"u{i:02d}.wav", (x + 0.003 * g.standard_normal(n)).astype(np.float32), 16000)
    return root


@pytest.fixture(scope="module")
def wavlm_dir(tmp_path_factory):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    d = tmp_path_factory.mktemp("wavlm")
    cfg = WavLMConfig(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                      conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                      feat_extract_norm="layer", do_stable_layer_norm=True)
    torch.manual_seed(0)
    WavLMModel(cfg).save_pretrained(d)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(d)
    return d


def tiny_cfg(run_dir, corpus, teacher=None, **over) -> TrainConfig:
    name = "tiny_semantic.yaml" if teacher else "tiny_acoustic.yaml"
    items = [f"run_dir={run_dir}", f"data.train={corpus}", "data.num_workers=0", "data.batch_size=2",
             "data.segment_seconds=0.25", "data.valid_items=1", "data.valid_seconds=0.25",
             "discriminator.periods=[2,3]", "discriminator.fft_sizes=[512]", "progress=false",
             "log_every=1", "valid_every=0", "export_every=0", "save_every=0"]
    if teacher:
        items.append(f"teacher.model={teacher}")
    items += [f"{k}={v}" for k, v in over.items()]
    return load_config(TrainConfig, CONFIGS / name, items)


def test_mel_loss_falls(tmp_path, corpus):
    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=16, **{"optim.lr": 3e-3, "loss.disc_start_step": 1000,
                                                               "loss.adv_start_step": 1000})
    res = train(cfg)
    mel = [h["mel"] for h in res.history]
    assert len(mel) == 16 and all(np.isfinite(mel))
    assert np.mean(mel[-4:]) < 0.9 * np.mean(mel[:4]), mel
    # end of run: a checkpoint and an EMA export that loads as a VAE model dir, recorded as acoustic
    assert list_checkpoints(cfg.run_dir)[-1].name == "step_00000016"
    vae = SemanticVAE.from_pretrained(res.last_export)
    assert vae.config.semantic is False and vae.config.teacher is None
    assert (Path(cfg.run_dir) / "config.yaml").is_file() and any((Path(cfg.run_dir) / "tb").iterdir())
    from svae_tts.errors import OutputExistsError

    with pytest.raises(OutputExistsError, match="resume auto"):  # a fresh run never clobbers a run dir
        train(cfg)


def test_alignment_uses_teacher_and_reaches_encoder_and_projector(tmp_path, corpus, wavlm_dir):
    tr = Trainer(tiny_cfg(tmp_path / "run", corpus, teacher=wavlm_dir))
    assert tr.teacher is not None and tr.projector is not None
    assert tr.teacher.width == 24 and tr.teacher.frame_rate == 50.0 and not tr.teacher.training
    calls = []
    tr.teacher.model.register_forward_hook(lambda *a: calls.append(1))
    from vae.data import collate

    batch = tr._to_device(collate([tr.dataset[(i, i)] for i in range(2)]))
    out = tr.generate(batch, 0, 0)
    losses = tr.generator_losses(batch, out, 0, adversarial=False)
    assert calls and torch.isfinite(losses["align"]) and -1.0 <= losses["align"].item() <= 1.0
    losses["align"].backward()
    gen = tr.acc.unwrap_model(tr.gen)
    enc_grad = sum(float(p.grad.abs().sum()) for p in gen.encoder.parameters() if p.grad is not None)
    proj_grad = sum(float(p.grad.abs().sum()) for p in tr.projector.parameters() if p.grad is not None)
    assert enc_grad > 0 and proj_grad > 0
    assert all(p.grad is None for p in tr.teacher.parameters())
    assert all(p.grad is None for p in gen.decoder.parameters())  # alignment touches the encoder side only
    # the projector keys are the release's
    assert set(tr.projector.state_dict()) >= {"model.0.weight", "model.3.weight", "model.6.weight", "model.1.weight"}


def test_alignment_reaches_the_loss_from_its_start_step(tmp_path, corpus, wavlm_dir):
    tr = Trainer(tiny_cfg(tmp_path / "run", corpus, teacher=wavlm_dir, **{"loss.align_start_step": 2}))
    from vae.data import collate

    batch = tr._to_device(collate([tr.dataset[(i, i)] for i in range(2)]))
    out = tr.generate(batch, 0, 0)
    L = tr.cfg.loss
    before = tr.generator_losses(batch, out, 1, adversarial=False)  # logged, not trained on
    assert torch.isfinite(before["align"]) and before["align"].item() != 0
    assert before["total"].item() == pytest.approx((L.mel_weight * before["mel"] + tr.kl_weight(1) * before["kl"]).item())
    after = tr.generator_losses(batch, out, 2, adversarial=False)
    assert after["total"].item() == pytest.approx((L.mel_weight * after["mel"] + tr.kl_weight(2) * after["kl"]
                                                   + L.align_weight * after["align"]).item())


def test_alignment_off_runs_no_teacher(tmp_path, corpus, wavlm_dir, monkeypatch):
    from transformers import WavLMModel

    def boom(*a, **k):
        raise AssertionError("teacher forward with alignment off")

    monkeypatch.setattr(WavLMModel, "forward", boom)
    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=2, grad_accum=2, **{
        "teacher.model": str(wavlm_dir), "loss.disc_start_step": 0, "loss.adv_start_step": 1})
    assert cfg.teacher.enabled is False
    tr = Trainer(cfg)
    assert tr.teacher is None and tr.projector is None
    res = tr.run()
    assert res.step == 2 and "align" not in res.history[-1]
    assert "disc" in res.history[0] and "gan" not in res.history[0] and "gan" in res.history[1]  # warm-up order


def test_finetune_starts_from_imported_dir(tmp_path, corpus, wavlm_dir):
    from svae_tts.checkpoint import save_state_dict
    from vae.discriminators import build_discriminator
    from vae.projector import AlignmentProjector

    torch.manual_seed(1)
    src = SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "official")
    proj = AlignmentProjector(24, 16)
    save_state_dict(proj.state_dict(), src / "projector.safetensors")
    cfg = tiny_cfg(tmp_path / "run", corpus, teacher=wavlm_dir, init_from=str(src))
    disc = build_discriminator(cfg.discriminator)
    save_state_dict(disc.state_dict(), src / "discriminator.safetensors")
    tr = Trainer(cfg)
    want = SemanticVAE.from_pretrained(src).state_dict()
    got = tr.acc.unwrap_model(tr.gen).state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert all(torch.equal(v, tr.projector.state_dict()[k]) for k, v in proj.state_dict().items())
    dgot = tr.acc.unwrap_model(tr.disc).state_dict()
    assert all(torch.equal(v, dgot[k]) for k, v in disc.state_dict().items())


def test_finetune_from_another_kind_is_refused_by_name(tmp_path, corpus, wavlm_dir):
    from svae_tts.errors import CheckpointError

    with pytest.raises(CheckpointError) as err:
        Trainer(tiny_cfg(tmp_path / "run", corpus, init_from=str(wavlm_dir)))
    assert str(err.value) == f"{wavlm_dir}: this is a Hugging Face transformers model (wavlm), not a VAE"


def test_pca_target_fit_is_the_covariance_eigenbasis_whatever_the_batching():
    from vae.pca_target import fit_pca_target

    g = torch.Generator().manual_seed(0)
    frames = torch.randn(600, 6, generator=g) @ torch.randn(6, 6, generator=g) + torch.arange(6.0)
    target, share = fit_pca_target([frames[:250], frames[250:]], 3)
    again, _ = fit_pca_target([frames[:17], frames[17:400], frames[400:]], 3)
    assert torch.allclose(target.components, again.components, atol=1e-6)
    x = frames.double() - frames.double().mean(0)
    values, vectors = np.linalg.eigh((x.T @ x / len(x)).numpy())
    want = vectors[:, ::-1][:, :3]
    assert np.allclose(np.abs(want.T @ target.components.double().numpy()), np.eye(3), atol=1e-5)  # same axes, in order
    assert share == pytest.approx(values[::-1][:3].sum() / values.sum(), rel=1e-5)
    assert torch.allclose(target.mean, frames.mean(0), atol=1e-5)
    assert (target.components.gather(0, target.components.abs().argmax(0, keepdim=True)) > 0).all()  # sign rule
    out = target(frames[None, :5])
    assert out.shape == (1, 5, 3) and torch.allclose(out[0], (frames[:5] - target.mean) @ target.components, atol=1e-5)
    with pytest.raises(ValueError, match="exceeds the teacher's width 6"):
        fit_pca_target([frames], 7)


def test_pca_alignment_target_trains_resumes_exports_and_finetunes(tmp_path, corpus, wavlm_dir, monkeypatch):
    """``teacher.target=pca``: no learned projector, a fixed target fitted on the teacher's features;
    the alignment gradient reaches the encoder; a resumed run equals an uninterrupted one (the fit is
    repeated exactly); the export holds the target and says so; fine-tuning reuses it unfitted."""
    from svae_tts.checkpoint import load_state_dict
    import vae.train as vae_train

    common = {"teacher.target": "pca", "teacher.pca_batches": 3, "loss.disc_start_step": 1000,
              "loss.adv_start_step": 1000, "optim.ema_update_after_step": 0, "optim.ema_update_every": 1,
              "save_every": 2, "loss.align_weight": 5.0}
    tr = Trainer(tiny_cfg(tmp_path / "probe", corpus, teacher=wavlm_dir, max_steps=1, **common))
    assert tr.projector is None and tr.pca_target is not None and tr.align_target is tr.pca_target
    assert tr.pca_target.components.shape == (24, 16) and not list(tr.pca_target.parameters())
    from vae.data import collate

    batch = tr._to_device(collate([tr.dataset[(i, i)] for i in range(2)]))
    losses = tr.generator_losses(batch, tr.generate(batch, 0, 0), 0, adversarial=False)
    losses["align"].backward()
    gen = tr.acc.unwrap_model(tr.gen)
    assert sum(float(p.grad.abs().sum()) for p in gen.encoder.parameters() if p.grad is not None) > 0

    full = train(tiny_cfg(tmp_path / "full", corpus, teacher=wavlm_dir, max_steps=4, **common))
    train(tiny_cfg(tmp_path / "split", corpus, teacher=wavlm_dir, max_steps=2, **common))
    resumed = train(tiny_cfg(tmp_path / "split", corpus, teacher=wavlm_dir, max_steps=4, resume="auto", **common))
    for a, b in zip(full.history[2:], resumed.history):
        assert "align" in a and all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-5) for k in a)
    vae = SemanticVAE.from_pretrained(full.last_export)
    assert vae.config.semantic is True and vae.config.teacher_target == "pca"
    saved = load_state_dict(Path(full.last_export) / "projector.safetensors")
    assert set(saved) == {"mean", "components"}
    assert torch.equal(saved["components"], tr.pca_target.components.cpu())  # the same fit in every run

    def no_fit(*a, **k):
        raise AssertionError("fitted again although the model dir holds its PCA target")

    monkeypatch.setattr(vae_train, "fit_pca_target", no_fit)
    tuned = Trainer(tiny_cfg(tmp_path / "tuned", corpus, teacher=wavlm_dir, max_steps=1, init_from=str(full.last_export), **common))
    assert torch.equal(tuned.pca_target.components.cpu(), saved["components"])
    release_style = Trainer(tiny_cfg(tmp_path / "release", corpus, teacher=wavlm_dir, max_steps=1))
    assert release_style.pca_target is None and release_style.align_target is release_style.projector


def test_pca_target_narrower_teacher_is_one_line_exit_2(tmp_path, corpus, capsys, monkeypatch):
    """16 latent dims cannot be 16 principal components of a 12-dim teacher: refused at start, in
    one line, before any teacher features are read."""
    from safetensors.torch import save_file
    import vae.train as vae_train

    feats = tmp_path / "feats"
    feats.mkdir()
    save_file({p.stem: torch.randn(60, 12) for p in corpus.glob("*.wav")}, str(feats / "shard-00000.safetensors"))
    (feats / "features.json").write_text(json.dumps({"teacher": "tiny-teacher", "layer": -1, "frame_rate": 50.0, "width": 12}))
    monkeypatch.setattr(vae_train.Trainer, "teacher_features", lambda *a: pytest.fail("teacher features read"))
    argv = ["--config", str(CONFIGS / "tiny_semantic.yaml"), f"run_dir={tmp_path / 'run'}", f"data.train={corpus}",
            "data.num_workers=0", "progress=false", "teacher.target=pca", f"teacher.features={feats}"]
    assert vae_train.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "teacher.target=pca" in err and "only 12" in err and "Traceback" not in err and len(err.splitlines()) == 1


SPECTRAL_SMALL = ["encoder_out_dim=32", "latent_dim=8", "attn_heads=2", "spectral.encoder_intermediate_dim=48",
                  "spectral.encoder_layers=2", "spectral.decoder_dim=32", "spectral.decoder_intermediate_dim=48",
                  "spectral.decoder_layers=2", "spectral.mel_bins=40"]


@pytest.mark.parametrize("preset", ["tiny", "tiny_spectral"])
def test_resume_equals_uninterrupted(tmp_path, corpus, wavlm_dir, preset):
    """Both CPU presets: the spectral one holds STFT windows, which once made accelerate's
    safetensors loader refuse every checkpoint of it."""
    k = 2
    common = {"loss.disc_start_step": 1, "loss.adv_start_step": 2, "optim.ema_update_after_step": 0,
              "optim.ema_update_every": 1, "save_every": k}
    if preset == "tiny_spectral":
        common.update({"vae": preset, "vae_overrides": "[" + ",".join(SPECTRAL_SMALL) + "]",
                       "data.segment_seconds": 0.5})
    full = train(tiny_cfg(tmp_path / "full", corpus, teacher=wavlm_dir, max_steps=2 * k, **common))
    first = train(tiny_cfg(tmp_path / "split", corpus, teacher=wavlm_dir, max_steps=k, **common))
    assert first.last_checkpoint.name == f"step_{k:08d}"
    resumed = train(tiny_cfg(tmp_path / "split", corpus, teacher=wavlm_dir, max_steps=2 * k, resume="auto", **common))
    assert resumed.step == 2 * k and len(resumed.history) == k
    for a, b in zip(full.history[k:], resumed.history):
        assert set(a) == set(b) and {"gan", "fm", "disc", "align"} <= set(a)
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-5), key
    ea = SemanticVAE.from_pretrained(full.last_export).state_dict()
    eb = SemanticVAE.from_pretrained(resumed.last_export).state_dict()
    assert max(float((ea[n] - eb[n]).abs().max()) for n in ea) < 1e-5  # EMA restored too


def test_missing_precomputed_feature_names_utterance(tmp_path, corpus):
    from safetensors.torch import save_file

    feats = tmp_path / "feats"
    feats.mkdir()
    ids = sorted(p.stem for p in corpus.glob("*.wav"))
    save_file({i: torch.randn(60, 12) for i in ids if i != "u03"}, str(feats / "shard-00000.safetensors"))
    (feats / "features.json").write_text(json.dumps({"teacher": "tiny-teacher", "layer": -1, "frame_rate": 50.0, "width": 12}))
    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=1, **{"teacher.enabled": True, "teacher.features": str(feats)})
    tr = Trainer(cfg)
    assert tr.teacher is None and tr.projector is not None and tr.projector.teacher_dim == 12
    idx = [it.id for it in tr.dataset.items].index("u03")
    from vae.teacher import TeacherError

    with pytest.raises(TeacherError, match="u03"):
        tr.dataset[(idx, 0)]
    ok = tr.dataset[(idx + 1, 0)]
    assert ok["feats"].shape[1] == 12 and ok["feats"].shape[0] == round(ok["length"] / 16000 * 50)


def test_precomputed_features_bad_folder_is_named(tmp_path):
    from svae_tts.errors import SvaeError
    from vae.teacher import PrecomputedFeatures, TeacherError

    with pytest.raises(TeacherError, match="nope: no such directory"):
        PrecomputedFeatures(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SvaeError, match="empty.*features.json"):
        PrecomputedFeatures(tmp_path / "empty")


def test_interrupted_checkpoint_keeps_previous(tmp_path, corpus, monkeypatch):
    from accelerate import Accelerator

    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=2, save_every=2)
    train(cfg)
    real_save = Accelerator.save_state

    def crash(self, output_dir=None, **kw):
        real_save(self, output_dir, **kw)
        (Path(output_dir) / "model.safetensors").write_bytes(b"truncated")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(Accelerator, "save_state", crash)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cfg(tmp_path / "run", corpus, max_steps=3, save_every=1, resume="auto"))
    monkeypatch.setattr(Accelerator, "save_state", real_save)
    assert [p.name for p in list_checkpoints(cfg.run_dir)] == ["step_00000002"]
    tr = Trainer(tiny_cfg(tmp_path / "run", corpus, max_steps=3, resume="auto"))
    assert tr.resume("auto").name == "step_00000002" and tr.state.step == 2


def test_nan_stops_with_message_and_keeps_checkpoint(tmp_path, corpus):
    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=4, save_every=1)
    tr = Trainer(cfg)
    real = tr.mel_loss.forward

    def poisoned(y_hat, y):
        v = real(y_hat, y)
        return v * float("nan") if tr.state.step == 2 else v

    tr.mel_loss.forward = poisoned
    with pytest.raises(TrainingDivergedError, match=r"step 3: non-finite generator loss.*step_00000002"):
        tr.run()
    assert [p.name for p in list_checkpoints(cfg.run_dir)][-1] == "step_00000002"


def test_release_discriminator_layout_maps_onto_bigvgan(tmp_path):
    """DAC-layout keys (Sequential-wrapped convs, parametrized weight norm) load into our discriminator."""
    import re

    from vae.discriminators import DiscriminatorConfig, build_discriminator, load_discriminator_file

    cfg = DiscriminatorConfig(periods=[2, 3], mpd_channel_mult=0.0625, fft_sizes=[512], mbd_channels=4)
    torch.manual_seed(3)
    src = build_discriminator(cfg)
    release, n = {}, 0
    for prefix in ("discrimiantor.0.discriminators.0.", "discrimiantor.0.discriminators.1.", "discrimiantor.1.discriminators.0."):
        for k, v in src.state_dict().items():
            if k.startswith(prefix) and not k.endswith("window"):
                name = k[len(prefix):]
                name = re.sub(r"^(convs|band_convs\.\d+)\.(\d+)\.", r"\1.\2.0.", name)
                name = name.replace("weight_g", "parametrizations.weight.original0").replace("weight_v", "parametrizations.weight.original1")
                release[f"discriminators.{n}.{name}"] = v.clone()
        n += 1
    torch.save({"state_dict": release, "metadata": {}}, tmp_path / "weights.pth")
    dst = build_discriminator(cfg)
    load_discriminator_file(dst, tmp_path)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())
    from svae_tts.errors import CheckpointError

    with pytest.raises(CheckpointError, match="sub-discriminators"):
        load_discriminator_file(build_discriminator(DiscriminatorConfig(periods=[2], mpd_channel_mult=0.0625, fft_sizes=[512], mbd_channels=4)), tmp_path)


def test_corpus_dataset_dir_and_crops(tmp_path, corpus):
    """A data_prep-style DatasetDict (id/audio/... columns, train/test) feeds fixed-length crops with true lengths."""
    import datasets

    from vae.data import CropDataset, collate, list_items

    files = sorted(corpus.glob("*.wav"))
    rows = lambda fs: {"id": [f.stem for f in fs], "audio": [str(f) for f in fs], "text": ["x"] * len(fs),
                       "speaker": ["s"] * len(fs), "duration": [sf.info(str(f)).duration for f in fs],
                       "sample_rate": [16000] * len(fs)}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(files[:8])),
                          "test": datasets.Dataset.from_dict(rows(files[8:]))}).save_to_disk(str(tmp_path / "corpus"))
    items = list_items(tmp_path / "corpus", "train")
    assert [i.id for i in items] == [f.stem for f in files[:8]]
    assert [i.id for i in list_items(tmp_path / "corpus", "test")] == [f.stem for f in files[8:]]
    ds = CropDataset(items, 16000, 8000, seed=0)
    batch = collate([ds[(i, 100 + i)] for i in range(8)])
    assert batch["wav"].shape == (8, 8000)
    n = [sf.info(str(f)).frames for f in files[:8]]
    assert batch["lengths"].tolist() == [min(k, 8000) for k in n]
    for row, length in zip(batch["wav"], batch["lengths"]):
        assert row[length:].abs().sum() == 0  # short clips are zero-padded past their true length
    assert torch.equal(ds[(0, 5)]["wav"], ds[(0, 5)]["wav"])  # the crop is a function of its position
    from vae.data import DataSourceError

    with pytest.raises(DataSourceError, match="no split 'dev'"):
        list_items(tmp_path / "corpus", "dev")


def test_cli_bad_config_exits_2(tmp_path, capsys):
    from vae.train import main

    assert main(["--config", str(CONFIGS / "tiny_acoustic.yaml"), "data.train=" + str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["--config", str(CONFIGS / "tiny_acoustic.yaml"), "optim.lrr=1"]) == 2


def test_online_teacher_user_errors_are_named(tmp_path, wavlm_dir):
    import shutil

    from vae.teacher import OnlineTeacher, TeacherError

    with pytest.raises(TeacherError, match="nope: cannot load it with transformers.AutoModel"):
        OnlineTeacher(tmp_path / "nope")
    with pytest.raises(TeacherError, match="layer 3 out of range"):
        OnlineTeacher(wavlm_dir, layer=3)
    assert OnlineTeacher(wavlm_dir, layer=-3).layer == -3  # hidden states 0..2: -3 is the embedding output
    broken = tmp_path / "broken"
    shutil.copytree(wavlm_dir, broken)
    (broken / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(TeacherError, match="preprocessor_config.json:1: invalid JSON"):
        OnlineTeacher(broken)


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin"])
def test_resume_refuses_planted_pickle_and_runs_nothing(tmp_path, corpus, planted, capsys):
    """A run dir from elsewhere is untrusted: a pickle that needs full unpickling is refused, nothing runs."""
    from svae_tts.errors import CheckpointError
    from vae.train import main

    cfg = tiny_cfg(tmp_path / "run", corpus, max_steps=1, save_every=1)
    train(cfg)
    marker = tmp_path / "marker"
    ckpt = list_checkpoints(cfg.run_dir)[-1]
    torch.save({"state": PlantedCode(marker)}, ckpt / planted)
    with pytest.raises(CheckpointError, match=planted):
        train(tiny_cfg(tmp_path / "run", corpus, max_steps=2, resume="auto"))
    assert not marker.exists()
    argv = ["--config", str(CONFIGS / "tiny_acoustic.yaml"), "--resume", str(ckpt)]
    argv += [f"{k}={v}" for k, v in (("run_dir", tmp_path / "run"), ("data.train", corpus), ("max_steps", 2),
                                     ("progress", "false"), ("discriminator.periods", "[2,3]"),
                                     ("discriminator.fft_sizes", "[512]"), ("data.segment_seconds", 0.25))]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and planted in err[0] and "Traceback" not in err[0]
    assert not marker.exists()


def test_killed_before_export_exports_on_resume(tmp_path, corpus, monkeypatch):
    """Killed after the checkpoint rename, before that step's export: the resumed run writes it (EMA restored)."""
    over = {"optim.ema_update_after_step": 0, "optim.ema_update_every": 1}
    full = train(tiny_cfg(tmp_path / "full", corpus, max_steps=4, save_every=2, export_every=2, **over))
    real_export = Trainer.export

    def killed(self):
        # what a SIGKILL inside the export leaves behind: the half-written temporary dir
        (self.run_dir / "exports" / f".step_{self.state.step:08d}.tmp-deadbeef").mkdir(parents=True)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Trainer, "export", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cfg(tmp_path / "run", corpus, max_steps=4, save_every=2, export_every=2, **over))
    monkeypatch.setattr(Trainer, "export", real_export)
    exports = Path(tmp_path / "run" / "exports")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"]
    assert not (exports / "step_00000002").exists()
    res = train(tiny_cfg(tmp_path / "run", corpus, max_steps=4, save_every=2, export_every=2, resume="auto", **over))
    assert res.step == 4
    assert sorted(p.name for p in exports.iterdir()) == ["step_00000002", "step_00000004"]  # no .tmp left
    a = SemanticVAE.from_pretrained(Path(full.run_dir) / "exports" / "step_00000002").state_dict()
    b = SemanticVAE.from_pretrained(exports / "step_00000002").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (exports / "step_00000002" / "discriminator.safetensors").is_file()


def test_overwrite_starts_afresh_without_stale_checkpoints(tmp_path, corpus):
    """overwrite=true wipes the earlier run: its later checkpoints must not outrank (or be resumed instead of) the new ones."""
    train(tiny_cfg(tmp_path / "run", corpus, max_steps=4, save_every=2, export_every=2))
    res = train(tiny_cfg(tmp_path / "run", corpus, max_steps=2, save_every=2, overwrite=True))
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"] and len(res.history) == 2
    assert sorted(p.name for p in (tmp_path / "run" / "exports").iterdir()) == ["step_00000002"]
