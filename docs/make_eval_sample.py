"""Regenerate docs/eval_sample_report.md: a real run of the convergence code on tiny models (CPU, minutes).

What it runs (no downloads): a synthetic multi-voice corpus (harmonic "voices", not speech), two
stand-in runs of tiny VAEs really trained a few dozen steps (``eval.standin``; the "synthesis" at
each checkpoint is the VAE's reconstruction of the target), the convergence command over them with
resemblyzer SIM and DNSMOS, then the linear probe over the final checkpoints. Without a trained
ASR judge there is no WER here; the numbers test the machinery and say nothing about Semantic-VAE.

    python docs/make_eval_sample.py /tmp/eval_sample
"""

import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(1)

from datasets import load_from_disk  # noqa: E402

from eval.convergence import run_convergence  # noqa: E402
from eval.probe import ProbeConfig, run_probe  # noqa: E402
from eval.scoring import Scorer  # noqa: E402
from eval.standin import train_standin_run, vae_reconstruction_factory  # noqa: E402
from eval.testlist import build_test_list, write_test_list  # noqa: E402
from tests.eval_helpers import tiny_corpus  # noqa: E402

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/eval_sample")
shutil.rmtree(root, ignore_errors=True)
corpus = tiny_corpus(root, train_speakers=("s0", "s1", "s2", "s3"), test_speakers=("s4", "s5"), per_speaker=3, seconds=1.0)
train_audio = load_from_disk(str(corpus))["train"]["audio"]
steps = [0, 10, 20, 30]
for name, semantic, seed in (("semantic", True, 0), ("acoustic", False, 1)):
    losses = train_standin_run(root / "runs" / name, train_audio, steps, semantic=semantic, seed=seed)
    print(name, "mel-L1 loss", round(losses[0], 3), "->", round(losses[-1], 3))
items = build_test_list(corpus, num_items=4)
lst = write_test_list(items, root / "test.jsonl")
res = run_convergence([("semantic", root / "runs" / "semantic"), ("acoustic", root / "runs" / "acoustic")], items,
                      root / "convergence", Scorer(asr=None, sim="resemblyzer", mos="dnsmos"),
                      synth_factory=vae_reconstruction_factory())
probe = run_probe([("semantic", str(root / "runs/semantic/exports/step_00000030")),
                   ("acoustic", str(root / "runs/acoustic/exports/step_00000030"))], corpus, root / "probe",
                  ProbeConfig(steps=200))
print((root / "convergence" / "report.md").read_text())
print((root / "probe" / "probe.md").read_text())
