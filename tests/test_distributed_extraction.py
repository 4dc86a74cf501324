"""Extraction jobs in two ``accelerate`` processes (gloo, CPU) give what one process gives.

The distributed path is what users reach when they outgrow one GPU; here two CPU processes share
the work of each job (teacher features, VAE latents) and the result must equal a one-process run:
the same utterances, the same values, the same metadata.

How the two processes are started: ``accelerate launch --cpu --num_processes 2`` starts ONE
process (accelerate's plain launcher; several CPU processes need ``mpirun``), so the job would pass
here without being distributed at all. ``--multi_gpu`` starts them through torchrun, and
``ACCELERATE_USE_CPU=1`` (what ``--cpu`` sets) makes them a gloo process group on the CPU. The
test checks that both ranks wrote shards, so a launch that silently runs one process fails.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_prep.features import extract_features
from data_prep.latents import extract_latents
from svae_tts.formats.latent_set import load_latent_set
from svae_tts.formats.teacher_features import FeatureStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from data_prep.builders import build_csv
    from data_prep.corpus import SplitSpec
    from tests.shared_fixtures import save_tiny_vae, save_tiny_wavlm, write_tone_list

    root = tmp_path_factory.mktemp("distributed")
    (root / "audio").mkdir()
    build_csv(write_tone_list(root / "audio", 7), root / "corpus", split=SplitSpec(test_size=2))
    return {"root": root, "corpus": root / "corpus", "teacher": save_tiny_wavlm(root / "teacher"),
            "vae": save_tiny_vae(root / "vae")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(*cli_args: str) -> None:
    """``svae-tts <cli_args>`` in two gloo processes on the CPU (see the module doc)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "ACCELERATE_USE_CPU": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "svae_tts", *cli_args]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _ranks(folder: Path) -> set[str]:
    return {p.name[:10] for p in folder.glob("shard-*.safetensors")}


def test_features_two_processes_equal_one(assets, tmp_path):
    one = FeatureStore(extract_features(assets["corpus"], tmp_path / "one", str(assets["teacher"]), layer=1,
                                        batch_size=2, shard_size=2))
    launch_two("data", "features", "--corpus", str(assets["corpus"]), "--model", str(assets["teacher"]),
               "--layer", "1", "--out", str(tmp_path / "two"), "--batch-size", "2", "--shard-size", "2")
    two = FeatureStore(tmp_path / "two")
    assert two.ids() == one.ids() and len(one) == 7
    assert {k: v for k, v in two.info.items()} == one.info
    assert _ranks(tmp_path / "two") == {"shard-r000", "shard-r001"}  # both processes did a share
    for uid in one.ids():
        torch.testing.assert_close(two.get(uid), one.get(uid), atol=2e-4, rtol=1e-3)


def _same_latent_sets(one, two) -> None:
    assert two.info == one.info
    for split in ("train", "test"):
        a, b = one.dataset[split], two.dataset[split]
        assert list(a["id"]) == list(b["id"]) and len(a) > 0
        for x, y in zip(a["latents"], b["latents"]):
            torch.testing.assert_close(torch.tensor(y), torch.tensor(x), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(two.mean, one.mean)
    torch.testing.assert_close(two.std, one.std)


def test_sampled_latents_do_not_depend_on_the_batch(assets, tmp_path):
    """Posterior samples are drawn per utterance from (seed, id): batch size changes nothing."""
    args = (assets["corpus"], str(assets["vae"]))
    one = load_latent_set(extract_latents(args[0], tmp_path / "b1", args[1], batch_size=1, sample=True, seed=3))
    four = load_latent_set(extract_latents(args[0], tmp_path / "b4", args[1], batch_size=4, sample=True, seed=3))
    _same_latent_sets(one, four)
    other = load_latent_set(extract_latents(args[0], tmp_path / "s4", args[1], batch_size=4, sample=True, seed=4))
    assert not torch.allclose(torch.tensor(other.dataset["train"][0]["latents"]),
                              torch.tensor(one.dataset["train"][0]["latents"]))


def test_latents_two_processes_equal_one(assets, tmp_path):
    """Sampled latents (the harder case: the noise too must not depend on which process drew it)."""
    one = load_latent_set(extract_latents(assets["corpus"], tmp_path / "one", str(assets["vae"]), batch_size=2,
                                          sample=True, seed=3))
    launch_two("data", "latents", "--corpus", str(assets["corpus"]), "--model", str(assets["vae"]),
               "--out", str(tmp_path / "two"), "--batch-size", "2", "--sample", "--seed", "3", "--keep-shards")
    assert _ranks(tmp_path / "two" / "shards") == {"shard-r000", "shard-r001"}  # both processes did a share
    _same_latent_sets(one, load_latent_set(tmp_path / "two"))
