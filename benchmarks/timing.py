"""Timing shared by the benchmark scripts: medians of functions timed in turns.

The host's own speed drifts by tens of percent within minutes; timing the candidates one after the
other lets that drift land on whichever is timed last. Timed in turns (forward, then backward
order), every candidate sees the same drift, so their ratios hold."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_in_turns(runs: dict[str, Callable[[], object]], device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds of each of ``runs`` (name -> function) over ``repeats`` turns, after one
    warm-up call each (allocator, cuDNN autotune, lazy inits)."""
    for fn in runs.values():
        fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for r in range(repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            runs[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}
