"""One ``train-ctc`` training step: transformers' layouts vs ``data_prep.ctc_layout``, and the optimiser.

    python benchmarks/ctc_step.py [--batch 8] [--seconds 3] [--threads 1] [--repeats 15] [--profile]

Builds the demo's CTC model (``CTCTrainConfig`` defaults) three times with the same weights and
times a full step (forward, CTC loss, backward, optimiser) of each on the same batch, in turns in
this process (``benchmarks.timing.time_in_turns``), on one thread as each demo stage runs:

- ``plain``: ``Wav2Vec2ForCTC`` as transformers runs it, AdamW's per-tensor loop (the trainer before);
- ``layouts``: :func:`data_prep.ctc_layout.use_fast_layouts`, what ``train-ctc`` runs now;
- ``layouts+fused``: the same with AdamW's fused kernel (``fused=True``): not used, it measured no
  faster (2026-12-01: 1.11x and 1.15x against the layouts' 1.13x and 1.14x).

Prints the median seconds per step and each one's speed-up over ``plain``. ``--profile`` adds the
operators that take the most time in ``plain`` and ``layouts+fused``. Only a quiet machine gives
meaningful ratios; the batch is noise of the given length (the step's cost depends on shapes only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def candidates(batch: int, seconds: float) -> dict:
    from data_prep.ctc import CTCTrainConfig, make_model
    from data_prep.ctc_layout import use_fast_layouts

    torch.manual_seed(0)
    x = torch.randn(batch, int(seconds * 16000))
    mask = torch.ones_like(x, dtype=torch.long)
    labels = torch.randint(1, 40, (batch, int(seconds * 12)))
    state = make_model(CTCTrainConfig(), 40).state_dict()

    def build(fast: bool, fused: bool):
        model = make_model(CTCTrainConfig(), 40)
        model.load_state_dict(state)
        if fast:
            use_fast_layouts(model)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None)

        def step():
            loss = model(x, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    return {"plain": build(False, False), "layouts": build(True, False), "layouts+fused": build(True, True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each utterance (the demo's mean is 3.1 s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    from benchmarks.timing import time_in_turns

    torch.set_num_threads(a.threads)
    runs = candidates(a.batch, a.seconds)
    times = time_in_turns(runs, torch.device("cpu"), a.repeats)
    print(f"CTC training step, batch {a.batch} x {a.seconds:g} s, {a.threads} thread(s), median of {a.repeats} turns")
    for name, t in times.items():
        print(f"  {name:14s} {t * 1000:7.1f} ms   speed-up over plain {times['plain'] / t:.2f}x")
    if a.profile:
        from torch.profiler import profile

        for name in ("plain", "layouts+fused"):
            with profile() as prof:
                for _ in range(3):
                    runs[name]()
            print(f"\n{name}:\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
