"""``train-ctc`` front ends on a CPU budget: wav2vec2's seven-layer conv stack vs our filterbank layer.

    python benchmarks/ctc_frontends.py [--steps 1600] [--hours 1.5] [--voices 48] [--corpus DIR]

Trains the same 4-layer ``Wav2Vec2ForCTC`` (character targets) twice on one eSpeak corpus, for
the same number of steps, one after the other in this process:

- ``w2v2-stack``: wav2vec2's front end (7 conv layers of 64 channels, strides 5,2,2,2,2,2,2) with
  the settings ``train-ctc`` used before (AdamW 1e-3, 50 warm-up steps, dropout and time masking 0.05);
- ``filterbank``: the current ``CTCTrainConfig`` defaults (kernel 400 / stride 160 learned
  filterbank, 2 more layers of 128 channels, AdamW 3e-3, 100 warm-up steps, no dropout).

Budgets are steps (the same numbers on a busy or a quiet machine); the speed comparison is the
ratio of seconds per step of the two runs in this process, which only means something on a quiet
machine. Prints seconds per step, mean training loss at a few steps (the all-blank plateau is ~2.9
for characters) and held-out CER on the corpus' unseen voices at the same step count; then the
ratios.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch


def configs(steps: int) -> dict:
    from data_prep.ctc import CTCTrainConfig

    return {
        "w2v2-stack": CTCTrainConfig(max_steps=steps, lr=1e-3, warmup_steps=50, dropout=0.05,
                                     mask_time_prob=0.05, conv_dim=[64] * 7, conv_stride=[5, 2, 2, 2, 2, 2, 2],
                                     conv_kernel=[10, 3, 3, 3, 3, 2, 2]),
        "filterbank": CTCTrainConfig(max_steps=steps),
    }


def loss_at(losses: list[float], step: int, window: int = 50) -> float | None:
    part = losses[max(0, step - window): step]
    return sum(part) / len(part) if len(part) == window else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1600, help="training steps of each run")
    ap.add_argument("--hours", type=float, default=1.5)
    ap.add_argument("--voices", type=int, default=48)
    ap.add_argument("--test-speakers", type=int, default=8)
    ap.add_argument("--corpus", default=None, help="an existing corpus folder (default: make one)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from data_prep.ctc import train_ctc
    from data_prep.espeak_corpus import ESpeakCorpusConfig, build_espeak_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(args.corpus) if args.corpus else Path(tmp) / "corpus"
        if not args.corpus:
            build_espeak_corpus(corpus, ESpeakCorpusConfig(hours=args.hours, voices=args.voices,
                                                           test_speakers=args.test_speakers, seed=0), num_proc=2)
        results = {}
        for name, cfg in configs(args.steps).items():
            info = train_ctc(corpus, Path(tmp) / name, cfg)
            results[name] = info
            marks = ", ".join(f"@{s}: {m:.2f}" for s in (250, 500, 1000, 1500)
                              if (m := loss_at(info["losses"], s)) is not None)
            print(f"{name:11s} steps {info['steps']:5d}  {60 * info['minutes'] / info['steps']:.3f} s/step  "
                  f"loss {marks}  held-out CER {info['cer']:.3f}", flush=True)
    base, new = results["w2v2-stack"], results["filterbank"]
    speed = (base["minutes"] / base["steps"]) / max(new["minutes"] / new["steps"], 1e-9)
    print(f"filterbank vs w2v2-stack at {args.steps} steps each: {speed:.2f}x faster per step, "
          f"CER {new['cer']:.3f} vs {base['cer']:.3f} ({base['cer'] / max(new['cer'], 1e-9):.2f}x lower)")


if __name__ == "__main__":
    main()
