"""Regenerate docs/eval_sample_report.md: a real run of the eval code on tiny models (CPU, a few minutes).

What it runs (no downloads):
1. the tests' toy corpus (tests/shared_fixtures.py) (harmonic tones, one pitch per character, two "speakers");
2. two tiny-preset VAEs (seeds 0 and 1, named semantic/acoustic, *no teacher*) trained 40 Adam steps
   on 8 clips with multi-scale mel L1 (``tests.eval_helpers.train_standin_run``), then the linear CTC probe and the reconstruction
   metrics over both;
3. one tiny TTS run per VAE (``tts_recipes.train``, latent feature space, 150 steps, exports every
   50) and the convergence command over both runs with the default ``Synthesizer`` (NFE 8),
   resemblyzer SIM and DNSMOS. No trained ASR judge exists offline here, so there is no WER.

    python docs/make_eval_sample.py /tmp/eval_sample
"""

import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(1)

from eval.convergence import EvalSynthesis, run_convergence  # noqa: E402
from eval.probe import ProbeConfig, run_probe  # noqa: E402
from eval.recon import run_recon  # noqa: E402
from eval.scoring import Scorer  # noqa: E402
from eval.testlist import build_test_list, write_test_list  # noqa: E402
from tests.eval_helpers import train_standin_run  # noqa: E402
from tests.shared_fixtures import make_corpus, make_latent_set  # noqa: E402
from tts_recipes.train import load_train_config, train  # noqa: E402
from vae import SemanticVAE  # noqa: E402

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/eval_sample")
shutil.rmtree(root, ignore_errors=True)
corpus, dsd = make_corpus(root / "data", n_train=24, n_test=8)
train_audio = list(dsd["train"]["audio"])[:8]
vaes = {}
for name, semantic, seed in (("semantic", True, 0), ("acoustic", False, 1)):
    losses = train_standin_run(root / "vae_runs" / name, train_audio, [40], semantic=semantic, seed=seed, segment=1.0)
    vaes[name] = root / "vae_runs" / name / "exports" / "step_00000040"
    print(f"VAE {name}: mel-L1 {losses[0]:.3f} -> {losses[-1]:.3f}")

# the toy corpus has no held-out speakers: the probe is told so and says so in its report
probe = run_probe([(n, str(d)) for n, d in vaes.items()], corpus, root / "probe", ProbeConfig(steps=300),
                  allow_seen_speakers=True)
recon = run_recon([(n, str(d)) for n, d in vaes.items()], corpus, root / "recon", Scorer(asr=None, sim="resemblyzer", mos="dnsmos"))

runs = []
for name, vdir in vaes.items():
    vae = SemanticVAE.from_pretrained(vdir)
    latents = make_latent_set(root / f"latents_{name}", dsd, vae, str(vdir))
    cfg = load_train_config("tiny", [f"run_dir={root / 'tts_runs' / name}", f"data.latent_set={latents}", "log_every=0",
                                     "max_steps=150", "save_every=50", "seed=0"])
    r = train(cfg)
    runs.append((name, root / "tts_runs" / name))
    print(f"TTS {name}: exports {[Path(e).name for e in r['exports']]}")

# the toy corpus reuses its two speakers in train and test: allow them (a real corpus is speaker-disjoint)
items = build_test_list(corpus, num_items=4, allow_seen_speakers=True)
write_test_list(items, root / "test.jsonl")
res = run_convergence(runs, items, root / "convergence", Scorer(asr=None, sim="resemblyzer", mos="dnsmos"),
                      settings=EvalSynthesis(nfe=8, seed=0))
for sub in ("probe/probe.md", "recon/report.md", "convergence/report.md"):
    print((root / sub).read_text())
