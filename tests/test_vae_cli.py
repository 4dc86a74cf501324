"""``svae-tts vae encode|decode|reconstruct`` and the file jobs behind them, with the tiny VAE."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.cli import main as cli_main
from svae_tts.errors import SvaeError
from vae.file_jobs import decode_files, encode_files, load_latents, reconstruct_files, save_latents
from vae.load import load_vae


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.shared_fixtures import save_tiny_vae

    return save_tiny_vae(tmp_path_factory.mktemp("model") / "tiny_vae")


@pytest.fixture
def audio_dir(tmp_path):
    """Two good files (one at 22.05 kHz, one in a sub-folder) and one corrupt file."""
    d = tmp_path / "audio"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(d / "a.wav", (0.1 * rng.standard_normal(12345)).astype("float32"), 16000)
    sf.write(d / "sub" / "b.wav", (0.1 * rng.standard_normal(11025)).astype("float32"), 22050)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return d


def _report(out: Path, command: str) -> dict:
    return json.loads((out / f"{command}_report.json").read_text())


def test_encode_decode_cli_lengths_and_report(tiny_dir, audio_dir, tmp_path, capsys):
    lat = tmp_path / "lat"
    rc = cli_main(["vae", "encode", str(audio_dir), "-o", str(lat), "-m", str(tiny_dir), "--no-progress"])
    assert rc == 3  # one input failed: reported, the rest written
    out, err = capsys.readouterr()
    assert "2 written" in out and "1 failed" in out and "skipped" in err and "broken.wav" in err
    rep = _report(lat, "encode")
    assert [Path(f["path"]).name for f in rep["skipped"]] == ["broken.wav"] and rep["failed"][0]["reason"]
    assert sorted(p.relative_to(lat).as_posix() for p in lat.rglob("*.safetensors")) == ["a.safetensors", "sub/b.safetensors"]

    latents, meta = load_latents(lat / "sub" / "b.safetensors")
    assert latents.shape == (20, 16)  # 0.5 s at 22.05 kHz -> 8000 samples at 16 kHz -> 20 frames
    assert meta["frame_rate"] == "40.0" and meta["model"] == str(tiny_dir) and meta["mode"] == "mean"
    assert meta["num_samples"] == "8000" and meta["latent_dim"] == "16"

    wav_dir = tmp_path / "wav"
    assert cli_main(["vae", "decode", str(lat), "-o", str(wav_dir), "-m", str(tiny_dir), "--no-progress"]) == 0
    a, sr = sf.read(wav_dir / "a.wav")
    assert sr == 16000 and len(a) == 12345
    assert len(sf.read(wav_dir / "sub" / "b.wav")[0]) == 8000
    assert _report(wav_dir, "decode")["skipped"] == []


def test_existing_outputs_kept_unless_overwrite(tiny_dir, audio_dir, tmp_path):
    vae = load_vae(str(tiny_dir))
    out = tmp_path / "lat"
    encode_files(vae, [audio_dir / "a.wav"], out, progress=False)
    target = out / "a.safetensors"
    before = load_latents(target)[0]
    target.write_bytes(b"user data")
    rep = encode_files(vae, [audio_dir / "a.wav"], out, progress=False)
    assert rep.written == [] and len(rep.existing) == 1 and target.read_bytes() == b"user data"
    rep = encode_files(vae, [audio_dir / "a.wav"], out, overwrite=True, progress=False)
    assert rep.written == [str(target)] and torch.equal(load_latents(target)[0], before)


def test_mean_is_deterministic_sampling_is_seeded(tiny_dir, audio_dir, tmp_path):
    vae = load_vae(str(tiny_dir))
    src = [audio_dir / "a.wav"]

    def enc(name, **kw):
        encode_files(vae, src, tmp_path / name, progress=False, **kw)
        return load_latents(tmp_path / name / "a.safetensors")

    (m1, _), (m2, _) = enc("m1"), enc("m2")
    (s1, smeta), (s2, _), (s3, _) = enc("s1", use_mean=False, seed=1), enc("s2", use_mean=False, seed=1), \
        enc("s3", use_mean=False, seed=2)
    assert torch.equal(m1, m2) and torch.equal(s1, s2) and not torch.equal(s1, s3) and not torch.equal(m1, s1)
    assert smeta["mode"] == "sample"
    torch.manual_seed(5)
    expect = torch.rand(3)
    torch.manual_seed(5)
    enc("s4", use_mean=False)  # unseeded sampling draws its own entropy, not by reseeding torch's RNG
    assert torch.equal(torch.rand(3), expect)
    with torch.no_grad():
        wav = torch.from_numpy(sf.read(audio_dir / "a.wav", dtype="float32")[0])
        _, mu, _ = vae.encode(wav[None])
    assert torch.allclose(m1, vae.encode_clips([wav])[0], atol=1e-6)  # the padded encode every stage uses
    assert m1.shape == mu[0].shape and not torch.allclose(m1[-1], mu[0, -1], atol=1e-3)  # not the bare one


def test_reconstruct_and_cli_sampling_flag(tiny_dir, audio_dir, tmp_path, capsys):
    out = tmp_path / "rec"
    rc = cli_main(["vae", "reconstruct", str(audio_dir / "a.wav"), str(audio_dir / "broken.wav"), "-o", str(out),
                   "-m", str(tiny_dir), "--sample", "--seed", "3", "--no-progress"])
    assert rc == 3 and "1 written" in capsys.readouterr().out
    wav, sr = sf.read(out / "a.wav")
    assert sr == 16000 and len(wav) == 12345 and np.isfinite(wav).all()
    assert Path(_report(out, "reconstruct")["failed"][0]["path"]).name == "broken.wav"
    # preset:tiny needs no model dir (random init), handy for demos
    assert reconstruct_files(load_vae("preset:tiny"), [audio_dir / "a.wav"], tmp_path / "r2", progress=False).written


def test_decode_skips_bad_latent_files(tiny_dir, audio_dir, tmp_path):
    vae = load_vae(str(tiny_dir))
    lat = tmp_path / "lat"
    encode_files(vae, [audio_dir / "a.wav"], lat, progress=False)
    (lat / "junk.safetensors").write_bytes(b"\x00" * 20)
    save_latents(lat / "wrong_dim.safetensors", torch.zeros(5, 8), vae, 2000, "mean")
    rep = decode_files(vae, [lat], tmp_path / "wav", progress=False)
    reasons = {Path(f["path"]).name: f["reason"] for f in rep.failed}
    assert set(reasons) == {"junk.safetensors", "wrong_dim.safetensors"}
    assert "unreadable latent file" in reasons["junk.safetensors"]
    assert "latent dim 8 != model latent dim 16" in reasons["wrong_dim.safetensors"]
    assert [Path(p).name for p in rep.written] == ["a.wav"]


def test_bad_input_is_one_line_exit_2(tiny_dir, tmp_path, capsys):
    assert cli_main(["vae", "encode", str(tmp_path / "nope"), "-o", str(tmp_path / "o"), "-m", str(tiny_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope: no such file or folder" in err
    (tmp_path / "in").mkdir()  # an output inside the input folder would be refused first
    sf.write(tmp_path / "in" / "a.wav", np.zeros(800, dtype="float32"), 16000)  # inputs are checked before the model
    assert cli_main(["vae", "encode", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "-m", str(tmp_path / "no_model")]) == 2
    assert "no_model" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SvaeError, match="no input files"):
        encode_files(load_vae("preset:tiny"), [empty], tmp_path / "o2", progress=False)


def test_output_clashes_and_bad_device_are_refused(audio_dir, tmp_path):
    from svae_tts.device import resolve_device

    vae = load_vae("preset:tiny")
    lat = tmp_path / "lat"
    encode_files(vae, [audio_dir / "a.wav"], lat, progress=False)
    with pytest.raises(SvaeError, match="holds the input .*a.safetensors"):  # even with overwrite
        encode_files(vae, [lat / "a.safetensors"], lat, progress=False, overwrite=True)
    (tmp_path / "other").mkdir()
    sf.write(tmp_path / "other" / "a.wav", np.zeros(800, dtype="float32"), 16000)
    with pytest.raises(SvaeError, match="several inputs would write the same output: .*a.safetensors"):
        encode_files(vae, [audio_dir / "a.wav", tmp_path / "other" / "a.wav"], tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()
    with pytest.raises(SvaeError, match="not a torch device"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_user_error(tiny_dir, audio_dir, tmp_path, capsys):
    assert cli_main(["vae", "encode", str(audio_dir), "-o", str(tmp_path / "o"), "-m", str(tiny_dir),
                     "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_decode_in_bf16_is_close_to_float32(tiny_dir, audio_dir, tmp_path):
    lat = tmp_path / "lat"
    cli_main(["vae", "encode", str(audio_dir / "a.wav"), "-o", str(lat), "-m", str(tiny_dir), "--no-progress"])
    outs = {}
    for name, extra in (("fp32", []), ("bf16", ["--decoder-dtype", "bfloat16"])):
        assert cli_main(["vae", "decode", str(lat), "-o", str(tmp_path / name), "-m", str(tiny_dir),
                         "--no-progress", *extra]) == 0
        outs[name] = sf.read(tmp_path / name / "a.wav", dtype="float32")[0]
    err = np.abs(outs["bf16"] - outs["fp32"]).max()
    assert 0 < err <= 0.02 * max(np.abs(outs["fp32"]).max(), 1e-3)
    assert cli_main(["vae", "decode", str(lat), "-o", str(tmp_path / "x"), "-m", str(tiny_dir),
                     "--decoder-dtype", "bf16"]) == 2  # argparse: one line naming the choices
