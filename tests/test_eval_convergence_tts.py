"""End to end: the convergence command over two real tiny TTS runs (tts_recipes.train), default Synthesizer."""

import csv
import json

import pytest
import torch



@pytest.fixture(scope="module")
def tts_runs(tmp_path_factory):
    """Two latent TTS runs on two different tiny VAEs, 4 steps each, exported at steps 2 and 4."""
    from tests.shared_fixtures import make_corpus, make_latent_set
    from tts_recipes.train import load_train_config, train
    from vae import SemanticVAE

    root = tmp_path_factory.mktemp("eval_tts")
    corpus_dir, dsd = make_corpus(root / "data", n_train=4, n_test=4)
    runs = {}
    for name, seed, semantic in (("semantic", 0, True), ("acoustic", 1, False)):
        torch.manual_seed(seed)
        vae = SemanticVAE.from_preset("tiny", [f"semantic={str(semantic).lower()}"])
        vae_dir = vae.save_pretrained(root / f"vae_{name}")
        latents = make_latent_set(root / f"latents_{name}", dsd, vae, str(vae_dir))
        cfg = load_train_config("tiny", [f"run_dir={root / name}", f"data.latent_set={latents}", "log_every=0",
                                         "max_steps=4", "save_every=2", f"seed={seed}"])
        train(cfg)
        runs[name] = root / name
    return {"root": root, "corpus": corpus_dir, "runs": runs}


def test_convergence_over_real_tts_checkpoints(tts_runs, tmp_path):
    from eval.testlist import build_test_list, write_test_list
    from svae_tts.cli import main
    from tests.eval_helpers import tiny_ctc_dir

    # tts_recipes' toy corpus reuses its two speakers in train and test: allow them explicitly
    items = build_test_list(tts_runs["corpus"], allow_seen_speakers=True)
    lst = write_test_list(items, tmp_path / "test.jsonl")
    ctc = tiny_ctc_dir(tmp_path / "ctc")
    out = tmp_path / "conv"
    argv = ["eval", "convergence", "--test", str(lst), "--out", str(out), "--asr", str(ctc), "--mos", "none",
            "--nfe", "2", "--seed", "7"]
    for name, run in tts_runs["runs"].items():
        argv += ["--run", f"{name}={run}"]
    assert main(argv) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["run"], int(r["step"])) for r in rows] == [(n, s) for n in ("semantic", "acoustic") for s in (2, 4)]
    assert all(r["failed_items"] == "0" and r["wer"] != "" and r["sim"] != "" for r in rows)
    res = json.loads((out / "results.json").read_text())
    assert res["scored_now"] == 4 and res["synthesis"]["nfe"] == 2
    # fixed seeds: the cached per-utterance records carry seed 7 + i
    cached = json.loads((out / "cache" / "semantic" / "step_00000002.json").read_text())
    assert [u["seed"] for u in cached["utterances"]] == [7 + i for i in range(len(items))]
    assert (out / "convergence.png").stat().st_size > 0 and (out / "report.md").is_file()
    assert main(argv) == 0
    assert json.loads((out / "results.json").read_text())["reused_from_cache"] == 4


def test_nfe_quality_scores_each_schedule_against_nfe32(tts_runs, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from eval.testlist import build_test_list, write_test_list
    from tests.eval_helpers import tiny_ctc_dir

    items = build_test_list(tts_runs["corpus"], allow_seen_speakers=True)
    lst = write_test_list(items, tmp_path / "test.jsonl")
    ctc = tiny_ctc_dir(tmp_path / "ctc")
    model = tts_runs["runs"]["semantic"] / "exports" / "step_00000004"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "nfe_quality.py"), "--model", str(model),
                           "--test", str(lst), "--asr", str(ctc), "--sim", "none", "--nfe", "2", "5", "--items", "3",
                           "--out", str(tmp_path / "q"), "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "q" / "nfe_quality.json").read_text())
    assert list(res["settings"]) == ["nfe32", "nfe2", "nfe5", "nfe5-epss"]
    s = res["settings"]
    assert all(s[k]["n"] == 3 and s[k]["failed"] == 0 for k in s)
    assert s["nfe2"]["mel_distance_to_nfe32"] > 0 and s["nfe2"]["cer_vs_nfe32"]["n"] == 3
    assert s["nfe5"]["mel_distance_to_nfe32"] != s["nfe5-epss"]["mel_distance_to_nfe32"]  # the schedules differ
    assert "nfe5-epss" in (tmp_path / "q" / "nfe_quality.md").read_text()


@pytest.mark.parametrize("text", [b'{"fingerprint": "f", "summary": {"cer": 0.', b"[1, 2]", b'{"fingerprint": "f\xe9"}',
                                  b'{"fingerprint": "f", "summary": [1]}',
                                  b'{"fingerprint": "f", "summary": {}, "utterances": [1]}'])
def test_a_damaged_cache_entry_is_scored_again_not_a_crash(tmp_path, text):
    from eval.convergence import _cached_entry

    cache = tmp_path / "step_00000002.json"
    cache.write_bytes(text)
    assert _cached_entry(cache, "f") is None
    cache.write_text(json.dumps({"fingerprint": "f", "summary": {"cer_chance": 0.5}, "utterances": []}))
    assert _cached_entry(cache, "f")["summary"] == {"cer_chance": 0.5}
