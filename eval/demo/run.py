"""``svae-tts demo``: run (or resume) the demo's stages in order, then write its report.

Each stage is recorded in ``stages.json`` only after its function returned, so a re-run skips
what finished and redoes what a crash or Ctrl-C cut short (the trainers themselves resume from
their own checkpoints).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from eval.demo import stages
from eval.demo.config import ARMS, BUDGETS, DemoBudget, DemoConfig, tts_runs
from eval.demo.report import write_report
from svae_tts.cli import add_device_option
from svae_tts.device import device_name
from svae_tts.errors import ConfigError
from svae_tts.fileio import atomic_write_json, guard_output


class StageLog:
    """``stages.json`` in the output folder: which stages finished, their timings and results."""

    def __init__(self, out: Path, budget_name: str, budget: DemoBudget):
        self.path = out / "stages.json"
        self.data: dict[str, Any] = {"budget": budget_name, "config": dataclasses.asdict(budget), "stages": {}}
        if self.path.is_file():
            old = json.loads(self.path.read_text())
            if old.get("config") != self.data["config"]:
                raise ConfigError(f"{out}: holds a demo run with another budget ({old.get('budget')}); "
                                  "use another --out or delete it")
            self.data = old

    def run(self, name: str, fn: Callable[[], dict]) -> dict:
        done = self.data["stages"].get(name)
        if done is not None:
            print(f"[demo] {name}: done already ({done['seconds']:.1f} s), skipped", flush=True)
            return done["result"]
        print(f"[demo] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        self.data["stages"][name] = {"seconds": seconds, "result": _jsonable(result)}
        atomic_write_json(self.path, self.data)
        print(f"[demo] {name}: {seconds:.1f} s", flush=True)
        return self.data["stages"][name]["result"]

    def timings(self) -> dict[str, float]:
        return {k: v["seconds"] for k, v in self.data["stages"].items()}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def run_demo(cfg: DemoConfig) -> Path:
    """Run (or resume) every stage; returns the path of ``report.md``."""
    import torch

    budget = cfg.resolved_budget()
    cfg = dataclasses.replace(cfg, device=device_name(cfg.device))  # "auto" -> the GPU when there is one, once
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        return _run_stages(cfg, budget)
    finally:
        torch.set_num_threads(threads)  # callers (a test session, a notebook) keep their setting


def _run_stages(cfg: DemoConfig, b: DemoBudget) -> Path:
    """corpus -> teacher and judge -> a VAE per arm -> its latents -> a TTS per arm -> eval -> report."""
    out = guard_output(cfg.out, exists_ok=True, markers=("stages.json", "corpus", ".corpus.tmp-*"), what="demo run")
    out.mkdir(parents=True, exist_ok=True)
    log = StageLog(out, cfg.budget, b)
    r: dict[str, Any] = {}
    r["corpus"] = log.run("corpus", lambda: stages.corpus(out, b, cfg.seed))
    r["teacher"] = log.run("teacher", lambda: stages.ctc(out, "teacher", "phoneme", 1, b, cfg.device))
    r["judge"] = log.run("judge", lambda: stages.ctc(out, "judge", "char", 2, b, cfg.device))
    for arm in ARMS:
        r[f"vae_{arm}"] = log.run(f"vae_{arm}", lambda arm=arm: stages.vae(out, arm, b, cfg.seed))
    for arm in ARMS:
        r[f"latents_{arm}"] = log.run(f"latents_{arm}", lambda arm=arm: stages.latents(out, arm, r[f"vae_{arm}"]["export"]))
    for run, arm, k in tts_runs(b):
        r[f"tts_{run}"] = log.run(f"tts_{run}", lambda run=run, arm=arm, k=k: stages.tts(
            out, run, r[f"latents_{arm}"]["dir"], b, cfg.seed + k))
    r["eval"] = log.run("eval", lambda: stages.evaluate(out, b, r, cfg.device))
    report = write_report(out, log.data["budget"], log.timings(), r)
    print(f"[demo] total {sum(log.timings().values()):.1f} s; report: {report}")
    return report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the offline end-to-end demo on the embedded eSpeak corpus")
    p.add_argument("--out", default="runs/demo", help="output folder (re-running resumes)")
    p.add_argument("--fast", action="store_true", help="smoke-test budget: every stage in a few minutes")
    p.add_argument("--preset", choices=sorted(BUDGETS), default=None,
                   help="budget: default (CPU, ~20 min), fast, proof (3 TTS seeds per arm: the convergence "
                        "comparison with its spread) or small (meant for one GPU)")
    add_device_option(p, "; the budgets are steps, so a GPU gives the same stages, faster")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(DemoConfig(out=args.out, budget=args.preset or ("fast" if args.fast else "default"), device=args.device))
    return 0
