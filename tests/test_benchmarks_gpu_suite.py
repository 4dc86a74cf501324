"""The GPU suite's ``--smoke`` mode runs every section on CPU, so the script a lent GPU runs first
cannot rot between the rare sessions that have one."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
    for nfe_row in res["tts_synthesis"].values():
        assert nfe_row["latent"]["rtf"] > 0 and nfe_row["mel"]["rtf"] > 0
        assert nfe_row["mel_over_latent_rtf"] == nfe_row["mel"]["rtf"] / nfe_row["latent"]["rtf"]
    assert res["tts_training"]["latent_over_mel_audio_s_per_s"] > 0
    assert set(res["vae_training"]) == {"tiny_acoustic/fp32", "tiny_semantic/fp32", "tiny_acoustic/bf16", "tiny_semantic/bf16"}
    assert all(row["steps_per_s"] > 0 for row in res["vae_training"].values())
    assert res["latent_extraction"]["x_real_time"] > 0
    table = out.with_suffix(".md").read_text()
    assert "SMOKE" in table and "tiny_semantic/bf16" in table and "real time" in table


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
