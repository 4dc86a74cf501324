"""The demo's scheduler: stages two at a time in worker processes, in dependency order, recorded
as they finish; a failure lets the other worker finish and keeps its result for the re-run."""

import json
import os
import time
from pathlib import Path

import pytest

from eval.demo import BUDGETS
from eval.demo.schedule import Stage, StageLog, last_progress_line, run_plan


# module-level, so a spawned worker can import them
def _say_and_add(x: int, y: int) -> dict:
    print(f"adding {x} and {y}")
    return {"sum": x + y, "pid": os.getpid(), "start": time.time(), "end": time.time()}


def _meet(folder: str, me: str, other: str, value: int = 0, linger: float = 0.0) -> dict:
    """Mark that ``me`` runs, then wait (up to a minute) for ``other`` to run too: a barrier
    that only two stages running at the same time pass; then stay ``linger`` seconds longer."""
    start = time.time()
    Path(folder, me).touch()
    while not Path(folder, other).exists() and time.time() - start < 60:
        time.sleep(0.05)
    met = Path(folder, other).exists()
    time.sleep(linger)
    return {"met": met, "value": value, "start": start, "end": time.time()}


def _fail_after_meeting(folder: str, me: str, other: str) -> dict:
    from svae_tts.errors import ConfigError

    _meet(folder, me, other)
    raise ConfigError("bad input: x.wav is empty")


class _Unpicklable(Exception):
    def __init__(self, a, b):  # pickling keeps only args=(message,): unpickling calls __init__(message) and fails
        super().__init__(f"{a}/{b}")


def _raise_unpicklable() -> dict:
    raise _Unpicklable("first", "second")


def _die() -> dict:
    os._exit(3)


def _log(tmp_path):
    return StageLog(tmp_path, "test", BUDGETS["fast"])


def test_stages_run_two_at_a_time_after_what_they_need(tmp_path):
    d = str(tmp_path)
    plan = [
        Stage("a", (), lambda r: (_meet, (d, "a", "b", 1))),
        Stage("b", (), lambda r: (_meet, (d, "b", "a", 2))),
        Stage("c", ("a", "b"), lambda r: (_say_and_add, (r["a"]["value"], r["b"]["value"]))),
        Stage("x", (), lambda r: (_say_and_add, (10, 20))),
        Stage("d", ("c",), lambda r: (_say_and_add, (r["c"]["sum"], 0)), alone=True),
    ]
    r = run_plan(plan, _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert r["a"]["met"] and r["b"]["met"]  # they ran at the same time
    assert r["c"]["sum"] == 3 and r["d"]["sum"] == 3 and r["x"]["sum"] == 30
    assert r["c"]["pid"] != os.getpid() and r["d"]["pid"] == os.getpid()  # "alone" runs here ...
    assert r["d"]["start"] >= max(r[k]["end"] for k in ("a", "b", "c", "x"))  # ... after every worker stage
    assert "adding 1 and 2" in (tmp_path / "logs" / "c.log").read_text()  # its output, not the terminal's
    log = _log(tmp_path)
    assert set(log.data["stages"]) == {"a", "b", "c", "x", "d"}
    wall, summed = log.wall_seconds(), sum(log.timings().values())
    assert 0 < wall < summed  # a and b overlapped
    # a re-run runs nothing
    again = run_plan([*plan[:2], Stage("c", ("a", "b"), lambda r: (_die, ())), *plan[3:]],
                     _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert again == r


def _threads_seen() -> dict:
    import torch

    return {"omp": os.environ.get("OMP_NUM_THREADS"), "mkl": os.environ.get("MKL_NUM_THREADS"),
            "torch": torch.get_num_threads()}


def test_workers_start_with_the_thread_count_in_their_environment(tmp_path, monkeypatch):
    """BLAS/OpenMP pools read the variables when a worker starts, before any of our code runs;
    the demo process's own values stay as they were."""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    r = run_plan([Stage("a", (), lambda r: (_threads_seen, ())), Stage("b", (), lambda r: (_threads_seen, ()))],
                 _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert r["a"] == r["b"] == {"omp": "1", "mkl": "1", "torch": 1}
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def test_one_at_a_time_gives_the_same_results_in_order(tmp_path):
    plan = [Stage("a", (), lambda r: (_say_and_add, (1, 2))),
            Stage("b", ("a",), lambda r: (_say_and_add, (r["a"]["sum"], 4)))]
    r = run_plan(plan, _log(tmp_path), jobs=1)
    assert r["b"]["sum"] == 7 and r["b"]["pid"] == os.getpid()


def test_a_failed_stage_lets_the_other_finish_and_is_rerun(tmp_path, capsys):
    from svae_tts.errors import ConfigError

    d = str(tmp_path)
    plan = [
        Stage("slow", (), lambda r: (_meet, (d, "slow", "bad", 7, 3.0))),  # still running when "bad" fails
        Stage("bad", (), lambda r: (_fail_after_meeting, (d, "bad", "slow"))),
        Stage("after", ("bad",), lambda r: (_say_and_add, (1, 1))),
    ]
    with pytest.raises(ConfigError, match="x.wav is empty"):
        run_plan(plan, _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert "bad failed; letting slow finish" in capsys.readouterr().err
    done = _log(tmp_path).data["stages"]
    assert set(done) == {"slow"} and done["slow"]["result"]["value"] == 7
    assert "x.wav is empty" in (tmp_path / "logs" / "bad.log").read_text()  # the traceback is in its log
    fixed = [plan[0], Stage("bad", (), lambda r: (_say_and_add, (2, 3))), plan[2]]
    r = run_plan(fixed, _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert r["slow"]["value"] == 7 and r["bad"]["sum"] == 5 and r["after"]["sum"] == 2
    log_text = (tmp_path / "logs" / "bad.log").read_text()
    assert log_text.count("=== ") == 2 and "x.wav is empty" in log_text  # the failed attempt's output is kept


def test_an_exception_that_cannot_cross_processes_still_names_the_error(tmp_path):
    with pytest.raises(RuntimeError, match="_Unpicklable: first/second"):
        run_plan([Stage("a", (), lambda r: (_raise_unpicklable, ())), Stage("b", (), lambda r: (_say_and_add, (1, 1)))],
                 _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")


def test_a_worker_that_dies_is_named_as_such(tmp_path):
    with pytest.raises(RuntimeError, match=r"worker process died .*stages stopped: (a|b, a|a, b)\. Re-run to resume"):
        run_plan([Stage("a", (), lambda r: (_die, ())), Stage("b", (), lambda r: (_say_and_add, (1, 1)))],
                 _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")


def test_a_plan_out_of_order_is_refused(tmp_path):
    for jobs in (1, 2):
        with pytest.raises(ValueError, match="listed before the stages it needs"):
            run_plan([Stage("a", ("b",), lambda r: (_say_and_add, (1, 1))), Stage("b", (), lambda r: (_die, ()))],
                     _log(tmp_path), jobs=jobs)


def test_a_stage_gives_the_same_numbers_in_a_busy_worker_as_alone(tmp_path):
    """Budgets are steps: the fast teacher trained twice at once in two workers (each beside the
    other) equals the same stage run alone in this process (one thread each way)."""
    import torch

    from eval.demo import stages

    stages.corpus(tmp_path, BUDGETS["fast"], seed=0)
    assert torch.get_num_threads() == 1  # conftest: tests run on one thread, as each worker does
    alone = stages.ctc(tmp_path, "alone", "phoneme", 1, 12, "cpu")
    plan = [Stage(name, (), lambda r, name=name: (stages.ctc, (tmp_path, name, "phoneme", 1, 12, "cpu")))
            for name in ("w1", "w2")]
    r = run_plan(plan, _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert r["w1"]["losses"] == r["w2"]["losses"] == alone["losses"]
    assert r["w1"]["steps"] == 12
    weights = [(tmp_path / n / "model.safetensors").read_bytes() for n in ("alone", "w1", "w2")]
    assert weights[0] == weights[1] == weights[2]


def test_wall_clock_counts_overlapping_stages_once(tmp_path):
    log = _log(tmp_path)
    log.record("a", 100.0, 110.0, {})
    log.record("b", 105.0, 120.0, {})
    log.record("c", 130.0, 131.0, {})  # a later invocation: the gap is not counted
    assert log.wall_seconds() == pytest.approx(21.0)
    log.data["stages"]["old"] = {"seconds": 5.0, "result": {}}  # recorded before stages kept their times
    assert log.wall_seconds() is None


def test_last_progress_line_reads_a_progress_bar(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("loading\ntrain:  10%| 1/10\rtrain:  20%| 2/10\r")
    assert last_progress_line(log) == "train:  20%| 2/10"
    assert last_progress_line(tmp_path / "missing.log") == ""


def _sleep_and_note_pid(pidfile: str, seconds: float = 120.0) -> dict:
    Path(pidfile).write_text(str(os.getpid()))
    time.sleep(seconds)
    return {}


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (it runs nothing)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _wait_for(pred, seconds: float = 60.0) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def _refuse(results: dict):
    raise ValueError("cannot build this stage's arguments")


def test_an_error_in_this_process_stops_the_running_workers(tmp_path):
    pidfile = tmp_path / "a.pid"
    plan = [Stage("a", (), lambda r: (_sleep_and_note_pid, (str(pidfile),))),
            Stage("b", (), lambda r: (_wait_for(pidfile.exists) and _refuse(r)))]
    t0 = time.time()
    with pytest.raises(ValueError, match="cannot build"):
        run_plan(plan, _log(tmp_path), jobs=2, threads=1, logs_dir=tmp_path / "logs")
    assert time.time() - t0 < 60  # did not wait for "a" to sleep its 120 s
    pid = int(pidfile.read_text())
    assert _wait_for(lambda: _gone(pid), 30) and "a" not in _log(tmp_path).data["stages"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="Linux: workers die with the demo's process")
def test_workers_die_with_the_demo_process(tmp_path):
    import signal
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from eval.demo import BUDGETS\n"
        "from eval.demo.schedule import Stage, StageLog, run_plan\n"
        "from test_demo_schedule import _sleep_and_note_pid\n"
        "if __name__ == '__main__':\n"
        "    out = Path(sys.argv[1])\n"
        "    plan = [Stage(n, (), lambda r, n=n: (_sleep_and_note_pid, (str(out / (n + '.pid')),))) for n in 'ab']\n"
        "    run_plan(plan, StageLog(out, 't', BUDGETS['fast']), jobs=2, threads=1, logs_dir=out / 'logs')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    try:
        pids = [tmp_path / "a.pid", tmp_path / "b.pid"]
        assert _wait_for(lambda: all(p.exists() and p.read_text() for p in pids), 60)
        workers = [int(p.read_text()) for p in pids]
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait()
        assert _wait_for(lambda: all(_gone(w) for w in workers), 30)
    finally:
        parent.kill()


def test_user_errors_cross_processes_as_they_are():
    """Workers re-raise the project's own errors unchanged, which needs each to rebuild from its
    message alone: no subclass of SvaeError may take other constructor arguments."""
    import data_prep.errors  # noqa: F401 - import every stage's errors
    import eval.errors  # noqa: F401
    import tts_recipes.errors  # noqa: F401
    import vae.data  # noqa: F401
    import vae.teacher  # noqa: F401
    from svae_tts.errors import SvaeError

    todo, seen = [SvaeError], []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    assert len(seen) > 10
    assert [c.__name__ for c in seen if "__init__" in vars(c)] == []


@pytest.mark.parametrize("text", ["[1, 2]", '{"budget": "test", "config": {}, "stages": {"corpus": {"seconds": 1.0, "re',
                                  '{"budget": "test", "stages": [1]}', '{"budget": "test", "stages": {"corpus": 3}}',
                                  '{"budget": "test", "stages": {"corpus": {"seconds": "1", "result": {}}}}',
                                  b'{"budget": "caf\xe9"}'])
def test_a_damaged_stage_log_is_one_error_naming_it(tmp_path, text):
    """A stages.json cut short or edited stopped the re-run with a traceback halfway through the
    resume; now it is one line naming the file and what to do."""
    from eval.errors import EvalError

    path = tmp_path / "stages.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(EvalError) as err:
        _log(tmp_path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "delete it" in message and "another --out" in message
