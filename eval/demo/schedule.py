"""Running the demo's stages: in order in this process, or two at a time in worker processes.

The demo's stages come in independent pairs (teacher and judge, the two VAE arms, the TTS runs).
Small models use two cores poorly: two one-thread processes finish such a pair 1.2-1.4x sooner
than one two-thread process doing it in turn (``benchmarks/demo_lanes.py``), so on a CPU the
demo runs each stage that is ready in one of ``jobs`` spawned workers with ``threads`` threads
each. A worker's output goes to ``logs/<stage>.log`` in the run (two progress bars on one
terminal would garble each other); this process prints a line as each stage starts and ends, and
every minute the last progress line of each running stage.

Each stage is recorded in ``stages.json`` only after it returned, so a re-run skips what finished
and redoes what a crash or Ctrl-C cut short (the trainers resume from their own checkpoints).
Stages with ``alone=True`` (the corpus build, which has its own worker pool, and the eval) run in
this process with every thread while nothing else runs. Budgets are steps, so the numbers do not
depend on timing; they may differ in the last float digits between ``jobs=1`` and ``jobs=2``
(one vs two threads per stage sum in another order).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import multiprocessing as mp
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from eval.errors import EvalError
from svae_tts.errors import ConfigError, SvaeError, exc_summary
from svae_tts.fileio import atomic_write_json
from svae_tts.log_setup import setup_logging
from svae_tts.textio import read_own_json

PROGRESS_EVERY = 60.0  # seconds between the running stages' progress lines
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# results of the stages so far -> (a module-level function, its arguments): picklable for a worker
Call = Callable[[dict], tuple[Callable[..., dict], tuple]]


@dataclass(frozen=True)
class Stage:
    name: str
    after: tuple[str, ...]  # the stages whose results it needs
    call: Call
    alone: bool = False  # run in this process with every thread, nothing beside it


# what to do with a damaged stages.json: the stages are built to redo (or resume) their own leftovers
_DAMAGED_LOG = "delete it (the demo then redoes its stages) or use another --out"


def _is_stage_entry(entry: Any) -> bool:
    """What a resume reads of a finished stage: its result, its seconds, and its times when kept."""
    number = (int, float)
    return (isinstance(entry, dict) and "result" in entry and isinstance(entry.get("seconds"), number)
            and all(isinstance(entry.get(k), (*number, type(None))) for k in ("started", "ended")))


def read_stage_log(path: Path) -> dict:
    """An earlier run's ``stages.json``: a damaged one (cut short, edited, not ours) is one
    :class:`EvalError` line naming it and what to do, not a traceback halfway through a resume."""
    old = read_own_json(path, _DAMAGED_LOG, dict, error=EvalError)
    stages = old.get("stages")
    if not isinstance(stages, dict) or not all(_is_stage_entry(v) for v in stages.values()):
        raise EvalError(f"{path}: not a demo stage log (\"stages\" must give each stage its seconds and result); "
                        f"{_DAMAGED_LOG}")
    return old


class StageLog:
    """``stages.json`` in the output folder: which stages finished, their timings and results."""

    def __init__(self, out: Path, budget_name: str, budget: Any):
        self.path = out / "stages.json"
        self.data: dict[str, Any] = {"budget": budget_name, "config": dataclasses.asdict(budget), "stages": {}}
        if self.path.is_file():
            old = read_stage_log(self.path)
            if old.get("config") != self.data["config"]:
                raise ConfigError(f"{out}: holds a demo run with another budget ({old.get('budget')}); "
                                  "use another --out or delete it")
            self.data = old

    def done(self, name: str) -> dict | None:
        return self.data["stages"].get(name)

    def record(self, name: str, started: float, ended: float, result: Any) -> dict:
        """Keep a finished stage (``started``/``ended``: epoch seconds) and save ``stages.json``."""
        self.data["stages"][name] = {"seconds": ended - started, "started": started, "ended": ended,
                                     "result": jsonable(result)}
        atomic_write_json(self.path, self.data)
        print(f"[demo] {name}: {ended - started:.1f} s", flush=True)
        return self.data["stages"][name]["result"]

    def timings(self) -> dict[str, float]:
        return {k: v["seconds"] for k, v in self.data["stages"].items()}

    def wall_seconds(self) -> float | None:
        """Time during which at least one stage ran (stages overlap when two run at once), over
        every invocation; None when a stage was recorded without its times (an older run)."""
        spans = [(v.get("started"), v.get("ended")) for v in self.data["stages"].values()]
        if not spans or any(a is None or b is None for a, b in spans):
            return None
        total, end = 0.0, float("-inf")
        for a, b in sorted(spans):
            if b > end:
                total += b - max(a, end)
                end = b
        return total


def jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def run_plan(plan: list[Stage], log: StageLog, jobs: int = 1, threads: int = 1, logs_dir: Path | None = None) -> dict:
    """Run every stage of ``plan`` not yet in ``log``, each once its ``after`` stages are done;
    returns every stage's result by name. ``plan`` lists each stage after the stages it needs;
    among the stages ready at once, the earlier one starts first."""
    seen: set[str] = set()
    for s in plan:
        missing = [d for d in s.after if d not in seen]
        if missing:
            raise ValueError(f"stage {s.name} is listed before the stages it needs: {missing}")
        seen.add(s.name)
    results: dict[str, Any] = {}
    for s in plan:
        done = log.done(s.name)
        if done is not None:
            print(f"[demo] {s.name}: done already ({done['seconds']:.1f} s), skipped", flush=True)
            results[s.name] = done["result"]
    pending = [s for s in plan if s.name not in results]
    if jobs <= 1 or sum(not s.alone for s in pending) < 2:
        for s in pending:
            results[s.name] = _run_here(s, results, log)
    else:
        _run_in_workers(pending, results, log, jobs, threads, logs_dir)
    return results


def _run_here(s: Stage, results: dict, log: StageLog) -> Any:
    print(f"[demo] {s.name} ...", flush=True)
    fn, args = s.call(results)
    started = time.time()
    out = fn(*args)
    return log.record(s.name, started, time.time(), out)


def _run_in_workers(pending: list[Stage], results: dict, log: StageLog, jobs: int, threads: int,
                    logs_dir: Path | None) -> None:
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
    before = set(mp.active_children())
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(threads, logging.getLogger().level))
    running: dict[Future, Stage] = {}
    failure: BaseException | None = None
    try:
        while pending or running:
            ready = [s for s in pending if all(d in results for d in s.after)]
            if failure is None and not running and ready and ready[0].alone:
                s = ready[0]
                pending.remove(s)
                results[s.name] = _run_here(s, results, log)
                continue
            for s in ready:
                if failure is not None or len(running) >= jobs:
                    break
                if s.alone:
                    continue  # waits until the workers are idle
                log_file = logs_dir / f"{s.name}.log" if logs_dir is not None else None
                fn, args = s.call(results)
                print(f"[demo] {s.name} ... (in a worker" + (f"; its output: {log_file})" if log_file else ")"),
                      flush=True)
                with thread_env(threads):  # a spawning pool starts its workers on submit, as they are needed
                    future = pool.submit(_stage_in_worker, fn, args, str(log_file) if log_file else None)
                running[future] = s
                pending.remove(s)
            if not running:
                break  # after a failure; or every stage left is ``alone`` and waited for the others
            finished, _ = wait(running, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            if not finished and logs_dir is not None:
                for s in running.values():
                    line = last_progress_line(logs_dir / f"{s.name}.log")
                    if line:
                        print(f"[demo]   {s.name}: {line}", flush=True)
            for f in finished:
                s = running.pop(f)
                try:
                    started, ended, out = f.result()
                except BrokenProcessPool as exc:  # every running stage is lost with the pool
                    if failure is None:
                        lost = ", ".join([s.name, *(r.name for r in running.values())])
                        failure = RuntimeError(
                            f"a demo worker process died (killed, out of memory, or a script that starts the demo "
                            f"at import time: call it under `if __name__ == '__main__':`); stages stopped: {lost}. "
                            "Re-run to resume, or run one stage at a time (--jobs 1)")
                        failure.__cause__ = exc
                    continue
                except Exception as exc:  # noqa: BLE001 - re-raised once the other workers have finished
                    if failure is None:
                        failure = exc
                        if running:
                            others = ", ".join(r.name for r in running.values())
                            print(f"[demo] {s.name} failed; letting {others} finish (a re-run keeps it)",
                                  file=sys.stderr, flush=True)
                    continue
                results[s.name] = log.record(s.name, started, ended, out)
    except BaseException:
        # Ctrl-C (workers ignore SIGINT: this process decides) or an error here: stop the workers
        # now; their trainers resume from their last checkpoints on the re-run
        for proc in set(mp.active_children()) - before:  # the pool's workers: it starts them as our children
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failure is not None:
        raise failure


@contextlib.contextmanager
def thread_env(threads: int):
    """The BLAS/OpenMP thread-count variables set to ``threads`` while processes are started.

    A spawned process's thread pools read them when it starts, before any code of ours runs
    (``torch.set_num_threads`` in the process sets torch's own pool, not every library's). The
    parent's values are restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: str(threads) for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def last_progress_line(log_file: Path, tail: int = 4096) -> str:
    """The last line (or progress-bar state: tqdm redraws with ``\\r``) a worker wrote to its log."""
    try:
        with open(log_file, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - tail))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    parts = [p.strip() for p in text.replace("\r", "\n").split("\n")]
    return next((p for p in reversed(parts) if p), "")


def _init_worker(threads: int, log_level: int) -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group; the parent stops us
    _die_with_parent()
    torch.set_num_threads(threads)
    setup_logging(log_level)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the demo's process dies, so no stage trains on unrecorded."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(1)


def _stage_in_worker(fn: Callable[..., dict], args: tuple, log_file: str | None) -> tuple[float, float, Any]:
    with output_to(log_file):
        started = time.time()
        try:
            out = fn(*args)
        except SvaeError:  # the project's user errors (plain one-line messages) reach the CLI as they are
            traceback.print_exc()  # into the stage's log
            raise
        except Exception as exc:
            # another library's exception might not rebuild in this process's parent (a custom
            # __init__), which would break the whole pool: its type and message go as a RuntimeError
            traceback.print_exc()
            raise RuntimeError(f"{exc_summary(exc)} (traceback in {log_file or 'the worker'})") from None
        return started, time.time(), out


@contextlib.contextmanager
def output_to(path: str | None):
    """This process's stdout and stderr, at the file-descriptor level (tqdm, C libraries), into ``path``."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(path, "a") as f:  # a failed attempt's output stays above the re-run's
            f.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n")
            f.flush()
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])
