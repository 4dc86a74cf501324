"""Seconds per utterance of each eval judge on CPU (1 thread), for planning convergence runs.

    python benchmarks/eval_judges.py [--seconds 4] [--repeats 3]

Prints a table: judge, clip length, seconds per call. Models load once (load time printed apart).
The WER/CER chance test runs once per aggregate (not per utterance): its row is seconds per
100-utterance aggregate (199 scrambles each of WER and CER, 12-word sentences).
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from eval.metrics import signal as S
    from eval.metrics.quality import get_quality_backend
    from eval.metrics.speaker import get_speaker_backend
    from eval.metrics.speechlike import speechlike
    from eval.scoring import chance_error_rates

    x = speechlike(16_000, a.seconds)
    y = x + 0.01 * torch.randn(x.shape)
    rows = []

    def bench(name, load, fn):
        t = time.perf_counter()
        obj = load()
        loaded = time.perf_counter() - t
        fn(obj)
        t = time.perf_counter()
        for _ in range(a.repeats):
            fn(obj)
        rows.append((name, loaded, (time.perf_counter() - t) / a.repeats))

    bench("PESQ-WB", lambda: None, lambda _: S.pesq_wb(x, y, 16_000))
    bench("STOI", lambda: None, lambda _: S.stoi(x, y, 16_000))
    bench("SI-SDR", lambda: None, lambda _: S.si_sdr(x, y, 16_000))
    bench("mel distance", lambda: None, lambda _: S.mel_distance(x, y, 16_000))
    bench("resemblyzer embed", lambda: get_speaker_backend("resemblyzer"), lambda m: m.embed(x, 16_000))
    bench("DNSMOS", lambda: get_quality_backend("dnsmos"), lambda m: m.score(x, 16_000))
    words = "the old man saw seven green birds fly over a quiet river at dawn".split()
    texts = [" ".join(words[(i + k) % len(words)] for k in range(12)) for i in range(100)]
    transcripts = [{"ref": t, "hyp": t[3:-2]} for t in texts]
    bench("chance test (100)", lambda: None, lambda _: chance_error_rates(transcripts))
    print(f"clip {a.seconds:.1f} s, {a.repeats} repeats, torch threads 1")
    print(f"| {'judge':<18} | load s | s / call |")
    print(f"|{'-' * 20}|--------|----------|")
    for name, load, per in rows:
        print(f"| {name:<18} | {load:6.2f} | {per:8.3f} |")


if __name__ == "__main__":
    main()
