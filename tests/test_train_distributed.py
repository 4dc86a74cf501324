"""The distributed path users take when they outgrow one GPU, on CPU: two processes under
``accelerate launch -m svae_tts`` (gloo) train the VAE and the TTS a few steps, checkpoint (with
every process's RNG state) and export, and a second launch resumes from that checkpoint; the CTC
trainer trains and writes its model once.

``accelerate launch --cpu --num_processes 2`` starts ONE process (accelerate's simple launcher:
multi-CPU needs MPI there); two CPU processes come from the torchrun launcher (``--multi_gpu``)
with ``ACCELERATE_USE_CPU=1``, which makes each process a gloo rank on the CPU even beside a GPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svae_tts.run_state import list_checkpoints
from tests.tts_fixtures import build_assets

ROOT = Path(__file__).resolve().parents[1]


def launch(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "ACCELERATE_USE_CPU": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", *args]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def check_run(run: Path, step: int, resumed_from: int | None, proc: subprocess.CompletedProcess) -> None:
    ckpt = list_checkpoints(run)[-1]
    assert ckpt.name == f"step_{step:08d}"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()  # both processes
    assert (run / "exports" / f"step_{step:08d}" / "model.safetensors").is_file()
    if resumed_from is not None:
        assert f"resumed from {run / 'checkpoints' / f'step_{resumed_from:08d}'} at step {resumed_from}" in proc.stderr


def sine_wavs(folder: Path) -> Path:
    """Eight 0.4-0.8 s sine clips at 16 kHz."""
    g = np.random.default_rng(0)
    folder.mkdir()
    for i in range(8):
        t = np.arange(int(16000 * (0.4 + 0.4 * g.random()))) / 16000
        sf.write(folder / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (120 + 20 * i) * t)).astype(np.float32), 16000)
    return folder


@pytest.fixture(scope="module")
def tts_assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("dist_tts"))


def test_vae_two_processes_checkpoint_export_resume(tmp_path):
    run = tmp_path / "run"
    common = ["-m", "svae_tts", "vae", "train", "--config", "tiny_acoustic", f"run_dir={run}",
              f"data.train={sine_wavs(tmp_path / 'wavs')}", "data.num_workers=0", "data.batch_size=2", "data.segment_seconds=0.25",
              "data.valid_items=1", "data.valid_seconds=0.25", "discriminator.periods=[2,3]",
              "discriminator.fft_sizes=[512]", "loss.disc_start_step=1", "loss.adv_start_step=1", "progress=false",
              "log_every=1", "valid_every=2", "save_every=2", "export_every=2"]
    check_run(run, 2, None, launch([*common, "max_steps=2"], tmp_path))
    check_run(run, 4, 2, launch([*common, "max_steps=4", "--resume", "auto"], tmp_path))


def test_vae_two_processes_with_the_alignment_starting_late(tmp_path):
    """Before ``loss.align_start_step`` the learned projector runs in the forward pass but gets no
    gradient; under DDP (two gloo processes) training still steps past the start, checkpoints and exports."""
    from tests.shared_fixtures import save_tiny_wavlm

    run = tmp_path / "run"
    args = ["-m", "vae.train", "--config", str(ROOT / "vae/configs/tiny_semantic.yaml"), f"run_dir={run}",  # the alias
            f"data.train={sine_wavs(tmp_path / 'wavs')}", f"teacher.model={save_tiny_wavlm(tmp_path / 'wavlm')}",
            "teacher.target=projector", "loss.align_start_step=2", "data.num_workers=0", "data.batch_size=2",
            "data.segment_seconds=0.25", "data.valid_items=1", "data.valid_seconds=0.25", "discriminator.periods=[2,3]",
            "discriminator.fft_sizes=[512]", "loss.disc_start_step=100", "loss.adv_start_step=100", "progress=false",
            "log_every=1", "valid_every=0", "save_every=4", "export_every=4", "max_steps=4"]
    check_run(run, 4, None, launch(args, tmp_path))


def test_tts_two_processes_checkpoint_export_resume(tts_assets, tmp_path):
    run = tmp_path / "run"
    common = ["-m", "svae_tts", "tts", "train", "--config", "tiny", f"run_dir={run}",
              f"data.latent_set={tts_assets['latents']}", "data.max_samples=2", "save_every=2", "log_every=1",
              "progress=false"]
    check_run(run, 2, None, launch([*common, "max_steps=2"], tmp_path))
    check_run(run, 4, 2, launch([*common, "max_steps=4"], tmp_path))


def test_ctc_two_processes_train_and_write_one_model(tts_assets, tmp_path):
    """``accelerate launch -m svae_tts data train-ctc``: each process trains on batches of its own,
    the gradients meet in DDP, and one process writes the model dir."""
    import json

    out = tmp_path / "ctc"
    launch(["-m", "svae_tts", "data", "train-ctc", "--corpus", str(tts_assets["corpus"]), "--out", str(out),
            "--max-steps", "2", "--device", "cpu", "batch_size=2", "eval_items=1", "hidden_size=16", "num_heads=2",
            "intermediate_size=32", "num_layers=1", "conv_dim=[16,16,16]", "log_every=1", "progress=false"], tmp_path)
    info = json.loads((out / "ctc_info.json").read_text())
    assert info["steps"] == 2 and len(info["losses"]) == 2 and info["eval_items"] == 1
    assert (out / "model.safetensors").is_file() and (out / "vocab.json").is_file()
