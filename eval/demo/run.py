"""``svae-tts demo``: run (or resume) the demo's stages, then write its report.

The stages and what each needs are :func:`plan`; :mod:`eval.demo.schedule` runs them (two at a
time on a CPU, in worker processes) and keeps ``stages.json``, so a re-run skips what finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from eval.demo import stages
from eval.demo.config import ARMS, BUDGETS, DemoBudget, DemoConfig, tts_runs
from eval.demo.report import try_it_command, write_report
from eval.demo.schedule import Stage, StageLog, run_plan
from svae_tts.cli import add_device_option, positive_int
from svae_tts.device import device_name
from svae_tts.errors import SvaeError
from svae_tts.fileio import OutputManifest, guard_output, make_output_dir, remove_created_dir

DEMO_COMMAND = "demo"  # the command name in the run folder's manifest


def run_demo(cfg: DemoConfig) -> Path:
    """Run (or resume) every stage; returns the path of ``report.md``."""
    import torch

    budget = cfg.resolved_budget()
    cfg = dataclasses.replace(cfg, device=device_name(cfg.device))  # "auto" -> the GPU when there is one, once
    # at most 2 threads in all, whatever the machine: the demo's numbers are the same everywhere;
    # on a CPU two stages at a time with one thread each (eval.demo.schedule says why)
    total = max(1, min(2, os.cpu_count() or 1))
    jobs = cfg.jobs if cfg.jobs is not None else (2 if cfg.device == "cpu" and total >= 2 else 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(total)
    try:
        return _run_stages(cfg, budget, jobs, max(1, total // jobs))
    finally:
        torch.set_num_threads(threads)  # callers (a test session, a notebook) keep their setting


def plan(out: Path, b: DemoBudget, cfg: DemoConfig) -> list[Stage]:
    """corpus -> teacher (and a CTC judge when the budget trains one) -> a VAE per arm -> its latents -> the TTS runs -> the eval's parts
    (probe, reconstruction, scoring each TTS run) -> eval, in priority order (the teacher first: it
    starts the longest chain)."""
    dev, seed = cfg.device, cfg.seed
    steps = [
        Stage("corpus", (), lambda r: (stages.corpus, (out, b, seed)), alone=True),
        Stage("teacher", ("corpus",), lambda r: (stages.ctc, (out, "teacher", "phoneme", 1, b.teacher_steps, dev))),
    ]
    if b.judge == "ctc":  # a CTC judge trained here; any other judge is loaded by name
        steps.append(Stage("judge", ("corpus",), lambda r: (stages.ctc, (out, "judge", "char", 2, b.judge_steps, dev))))
    judge = ("judge",) if b.judge == "ctc" else ()
    for arm in ARMS:  # only the semantic arm is aligned to the teacher
        steps.append(Stage(f"vae_{arm}", ("corpus", "teacher") if arm == "semantic" else ("corpus",),
                           lambda r, arm=arm: (stages.vae, (out, arm, b, seed))))
    for arm in ARMS:
        steps.append(Stage(f"latents_{arm}", (f"vae_{arm}",),
                           lambda r, arm=arm: (stages.latents, (out, arm, r[f"vae_{arm}"]["export"]))))
    for run, arm, k in tts_runs(b):
        steps.append(Stage(f"tts_{run}", (f"latents_{arm}",), lambda r, run=run, arm=arm, k=k: (
            stages.tts, (out, run, r[f"latents_{arm}"]["dir"], b, seed + k))))
    # the evaluation's parts run beside the training that is left, each once what it reads exists
    steps.append(Stage("probe", tuple(f"latents_{arm}" for arm in ARMS), lambda r: (stages.probe, (out, b, r, dev))))
    steps.append(Stage("recon", (*judge, *(f"vae_{arm}" for arm in ARMS)), lambda r: (stages.recon, (out, b, r, dev))))
    for run, _, _ in tts_runs(b):
        steps.append(Stage(f"score_{run}", (f"tts_{run}", *judge), lambda r, run=run: (stages.score, (out, run, b, dev))))
    done = tuple(s.name for s in steps)
    steps.append(Stage("eval", done, lambda r: (stages.evaluate, (out, b, r, dev)), alone=True))
    return steps


def _run_stages(cfg: DemoConfig, b: DemoBudget, jobs: int, threads: int) -> Path:
    # an earlier run: its manifest, its stage log, or the corpus its first stage was building
    out = guard_output(cfg.out, exists_ok=True, command=DEMO_COMMAND, markers=("stages.json", ".corpus.tmp-*"),
                       what="demo run")
    created = make_output_dir(out)
    logs_existed = (out / "logs").exists()
    try:
        log = StageLog(out, cfg.budget, b)  # refuses a run of another budget, changing nothing
        manifest = OutputManifest.of(out)
        manifest.claim(DEMO_COMMAND)
        manifest.add(DEMO_COMMAND)
        if jobs > 1:
            print(f"[demo] {jobs} stages at a time, {threads} thread(s) each", flush=True)
        r: dict[str, Any] = run_plan(plan(out, b, cfg), log, jobs=jobs, threads=threads, logs_dir=out / "logs")
    except SvaeError:  # refused (another budget, a stage's one-line error): leave no empty folder behind
        if not logs_existed:
            remove_created_dir(out / "logs" if (out / "logs").is_dir() else None)
        remove_created_dir(created)
        raise
    wall = log.wall_seconds()
    report = write_report(out, log.data["budget"], log.timings(), r, wall=wall, budget=b)
    print(f"[demo] stage times summed {sum(log.timings().values()):.1f} s"
          + (f", wall clock {wall:.1f} s" if wall is not None else "") + f"; report: {report}")
    command = try_it_command(out, (r.get("eval") or {}).get("convergence") or {})
    if command:
        print(f"[demo] hear a model of it: {command}", flush=True)
    return report


# The wall clock of the default preset as measured (docs/results/2026-12-07_demo: 1,128 s on 2 quiet CPU
# cores); the budgets are steps, so a busy or slower machine takes longer and gives the same numbers.
PRESET_HELP = ("budget (default: default): default, the whole method on a CPU, about 19 min on 2 quiet CPU cores "
               "(docs/results/2026-12-07_demo); fast, a smoke test of every stage in a few minutes; proof, "
               "3 TTS seeds per arm of the 6.4 M mini DiT (the convergence comparison with its spread); small, "
               "sized for one GPU")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the offline end-to-end demo on the embedded eSpeak corpus")
    p.add_argument("-o", "--out", default="runs/demo", help="output folder (re-running resumes; default runs/demo)")
    p.add_argument("--preset", choices=sorted(BUDGETS), default="default", help=PRESET_HELP)
    add_device_option(p, "; the budgets are steps, so a GPU gives the same stages, faster")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="stages run at once, each in its own process (default: 2 on a CPU with 2+ cores, one "
                        "thread each; 1 on a GPU)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(DemoConfig(out=args.out, budget=args.preset, device=args.device, jobs=args.jobs))
    return 0
