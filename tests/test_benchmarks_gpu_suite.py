"""The GPU suite's ``--smoke`` mode runs every section on CPU, so the script a lent GPU runs first
cannot rot between the rare sessions that have one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_suite_smoke_writes_every_section(tmp_path):
    out = tmp_path / "suite.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--smoke", "--out", str(out),
                           "--device", "cpu", "--threads", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["smoke"] is True
    for section in ("tts_synthesis", "tts_training", "vae_training", "latent_extraction"):
        assert "error" not in res[section], res[section]
    assert set(res["tts_synthesis"]) == {"nfe4"}
    for nfe_row in res["tts_synthesis"].values():
        for pipeline in ("latent", "mel"):
            _assert_rtf_follows_from_its_timing(nfe_row[pipeline], seconds=2.0, ref_seconds=2.0)
        assert nfe_row["mel_over_latent_rtf"] == nfe_row["mel"]["rtf"] / nfe_row["latent"]["rtf"]
    train = res["tts_training"]
    for pipeline in ("latent", "mel"):  # smoke: batch 2 x 1 s
        assert train[pipeline]["steps_per_s"] > 0
        assert train[pipeline]["audio_s_per_s"] == pytest.approx(train[pipeline]["steps_per_s"] * 2 * 1.0)
    assert train["latent_over_mel_audio_s_per_s"] == pytest.approx(train["latent"]["audio_s_per_s"] / train["mel"]["audio_s_per_s"])
    assert set(res["vae_training"]) == {"tiny_acoustic/fp32", "tiny_semantic/fp32", "tiny_acoustic/bf16", "tiny_semantic/bf16"}
    for row in res["vae_training"].values():  # one process: audio per second = steps/s x batch x crop
        assert row["steps_per_s"] > 0 and row["batch"] == 2
        assert row["audio_s_per_s"] == pytest.approx(row["steps_per_s"] * row["batch"] * row["segment_seconds"])
    ext = res["latent_extraction"]
    assert ext["rtf"] > 0 and ext["x_real_time"] == pytest.approx(1 / ext["rtf"])
    table = out.with_suffix(".md").read_text()
    assert "SMOKE" in table and "tiny_semantic/bf16" in table and "real time" in table


def _assert_rtf_follows_from_its_timing(row: dict, seconds: float, ref_seconds: float) -> None:
    """A synthesis RTF is the timed seconds over the seconds of audio made: that audio is the length
    asked for (to half a frame), and the frames run through the DiT are the reference's and the new
    ones' (to a frame or two of the encoder's rounding)."""
    assert row["seconds"] > 0 and row["rtf"] == pytest.approx(row["seconds"] / row["audio_s"])
    assert abs(row["audio_s"] - seconds) < 0.02, row
    rate = row["gen_frames"] / row["audio_s"]  # frames per second of this feature space
    assert abs(row["frames"] - row["gen_frames"] - ref_seconds * rate) <= 2, row
    assert all(row[k] > 0 for k in ("dit_rtf", "encoder_rtf", "decoder_rtf"))


def test_a_failing_section_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    """On a 15-minute GPU lease one broken section must not cost the others' figures."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks" / "gpu_suite.py")
    suite = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_suite", suite)  # its dataclasses look their module up there
    spec.loader.exec_module(suite)

    def broken(sizes, device):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(suite, "vae_training_section", broken)
    import torch

    res = suite.run_suite(tmp_path / "s.json", smoke=True, device=torch.device("cpu"),
                          sections=["vae_training", "latent_extraction"])
    assert res["vae_training"] == {"error": "RuntimeError: out of memory"}
    assert res["latent_extraction"]["x_real_time"] > 0
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["vae_training"]["error"] and "vae_training failed" in (tmp_path / "s.md").read_text()
