"""Two demo stages one after the other on all (2) threads vs side by side on one thread each.

The demo's stages come in independent pairs (teacher and judge; the two VAE arms; the two TTS
arms). Small models use two cores poorly, so two one-thread processes may finish a pair sooner
than one two-thread process doing it in turn. This runs each pair both ways, with the demo's own
stage functions at a reduced step budget on an existing demo run's corpus and latents, and
prints the wall times and the ratio of their means (> 1: side by side is faster). Run it on a
quiet machine.

    python benchmarks/demo_lanes.py --demo runs/demo
    python benchmarks/demo_lanes.py --demo runs/demo --pairs ctc tts --ctc-steps 100
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _job(kind: str, k: int, out: str, demo: str, budget: dict) -> None:
    """One stage of the pair, numbered ``k`` (0 or 1), in ``out``."""
    from eval.demo import stages
    from eval.demo.config import DemoBudget

    b = DemoBudget(**budget)
    out_p = Path(out)
    if kind == "ctc":
        stages.ctc(out_p, f"ctc_{k}", ("phoneme", "char")[k], 1 + k, b.teacher_steps, "cpu")
    elif kind == "vae":
        stages.vae(out_p, ("semantic", "acoustic")[k], b, seed=0)
    elif kind == "tts":
        arm = ("semantic", "acoustic")[k]
        stages.tts(out_p, f"{arm}_bench", str(Path(demo) / f"latents_{arm}"), b, seed=0)
    else:
        raise ValueError(kind)


def _worker(threads: int, jobs: list[tuple]) -> None:
    import torch

    from eval.demo.schedule import output_to

    torch.set_num_threads(threads)
    with output_to(os.devnull):  # two processes' progress bars would interleave on the terminal
        for job in jobs:
            _job(*job)


def _run(procs: list[tuple[int, list[tuple]]]) -> float:
    from eval.demo.schedule import thread_env

    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    ps = [ctx.Process(target=_worker, args=(threads, jobs)) for threads, jobs in procs]
    for p, (threads, _) in zip(ps, procs):
        with thread_env(threads):  # as the demo starts its workers
            p.start()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a benchmark process failed (exit {p.exitcode})")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", default="runs/demo", help="a finished demo run (its corpus, teacher and latents)")
    ap.add_argument("--pairs", nargs="+", default=["ctc", "vae", "tts"], choices=["ctc", "vae", "tts"])
    ap.add_argument("--ctc-steps", type=int, default=150)
    ap.add_argument("--vae-steps", type=int, default=60)
    ap.add_argument("--tts-steps", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2, choices=[1, 2],
                    help="1: in turn, then side by side; 2: in turn, side, side, in turn (ratio of the means)")
    args = ap.parse_args(argv)

    from eval.demo.config import DemoBudget

    demo = Path(args.demo).resolve()
    budget = dataclasses.asdict(DemoBudget(teacher_steps=args.ctc_steps, vae_steps=args.vae_steps,
                                           tts_steps=args.tts_steps, tts_save_every=args.tts_steps))
    print("| pair | in turn, 2 threads (s) | side by side, 1 thread each (s) | ratio |")
    print("|---|---|---|---|")
    for kind in args.pairs:
        times: dict[str, list[float]] = {"turn": [], "side": []}
        # turn, side, side, turn: neither way always runs first (warm page cache, the host's drift)
        for mode in ("turn", "side", "side", "turn")[: 2 * args.rounds]:
            with tempfile.TemporaryDirectory(prefix="lanes-") as tmp:
                (Path(tmp) / "corpus").symlink_to(demo / "corpus")
                (Path(tmp) / "teacher").symlink_to(demo / "teacher")
                jobs = [(kind, k, tmp, str(demo), budget) for k in (0, 1)]
                procs = [(2, jobs)] if mode == "turn" else [(1, [j]) for j in jobs]
                times[mode].append(_run(procs))
        turn, side = (sum(v) / len(v) for v in (times["turn"], times["side"]))
        print(f"| {kind} | {' / '.join(f'{x:.1f}' for x in times['turn'])} | "
              f"{' / '.join(f'{x:.1f}' for x in times['side'])} | {turn / side:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
