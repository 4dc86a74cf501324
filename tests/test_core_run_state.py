"""svae_tts.run_state: training checkpoints round-trip exactly, and loading one never runs code from it."""

import json
import random

import numpy as np
import pytest
import torch

from svae_tts.errors import CheckpointError
from tests.shared_fixtures import PlantedCode
from svae_tts.run_state import (STATE_JSON, STATE_TENSORS, check_plain_data, latest_checkpoint, list_checkpoints,
                                load_checkpoint, read_trainer_state, recover_run_dir, save_checkpoint,
                                write_trainer_state)


class Counters:
    def __init__(self):
        self.step, self.history = 0, (0.5, [1, None], {"lr": 1e-4})

    def state_dict(self):
        return {"step": self.step, "history": self.history}

    def load_state_dict(self, state):
        self.step, self.history = state["step"], state["history"]


def make_run(seed=0):
    """A prepared model + optimiser + EMA + LR scheduler + counters: what a trainer checkpoints."""
    from accelerate import Accelerator
    from ema_pytorch import EMA

    torch.manual_seed(seed)
    acc = Accelerator(cpu=True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    model, opt = acc.prepare(model, opt)
    ema = EMA(model, beta=0.9, update_after_step=0, update_every=1, include_online_model=False)
    return acc, model, opt, {"state": Counters(), "scheduler": sched, "ema": ema}


def train_steps(model, opt, objects, n):
    out = []
    for _ in range(n):
        # every RNG accelerate restores (torch, Python, NumPy) moves the loss
        loss = model(torch.randn(3, 4)).pow(2).mean() * (1 + random.random()) * (1 + float(np.random.rand()))
        loss.backward()
        opt.step()
        objects["scheduler"].step()
        opt.zero_grad()
        objects["ema"].update()
        objects["state"].step += 1
        out.append(loss.item())
    return out


def test_round_trip_resumes_exactly_and_rotates(tmp_path):
    acc, model, opt, objects = make_run()
    train_steps(model, opt, objects, 2)
    objects["state"].history = (0.25, [3, None], {"lr": 0.1 + 0.2})
    for step in (1, 2, 3):
        ck = save_checkpoint(acc, tmp_path, step, objects, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002", "step_00000003"] and latest_checkpoint(tmp_path) == ck
    assert not list(ck.glob("custom_checkpoint_*")) and not (ck / "scheduler.bin").exists()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000002", "step_00000003"]
    want = train_steps(model, opt, objects, 3)
    ema_want = {k: v.clone() for k, v in objects["ema"].state_dict().items()}

    acc2, model2, opt2, objects2 = make_run(seed=1)  # different weights and RNG: all must come from the checkpoint
    load_checkpoint(acc2, ck, objects2)
    assert objects2["state"].step == 2 and objects2["state"].history == (0.25, [3, None], {"lr": 0.1 + 0.2})
    assert objects2["scheduler"].last_epoch == 2
    assert train_steps(model2, opt2, objects2, 3) == want  # model, optimiser, scheduler and RNG all restored
    assert all(torch.equal(v, objects2["ema"].state_dict()[k]) for k, v in ema_want.items())


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scaler.pt",
                                     "extra/sampler.bin"])
def test_planted_pickle_is_refused_and_never_runs(tmp_path, planted):
    acc, model, opt, objects = make_run()
    ck = save_checkpoint(acc, tmp_path / "run", 1, objects, keep=1)
    marker = tmp_path / "marker"
    (ck / planted).parent.mkdir(exist_ok=True)
    torch.save({"state": PlantedCode(marker)}, ck / planted)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acc2, model2, opt2, objects2 = make_run(seed=1)
    with pytest.raises(CheckpointError, match=planted) as err:
        load_checkpoint(acc2, ck, objects2)
    assert "\n" not in str(err.value) and not marker.exists()
    assert objects2["state"].step == 0 and not all(torch.equal(v, model2.state_dict()[k]) for k, v in before.items())


def test_plain_legacy_pickle_with_code_is_refused(tmp_path):
    import pickle

    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps({"x": PlantedCode(tmp_path / "marker")}, protocol=2))
    with pytest.raises(CheckpointError, match=r"old\.pkl: needs full unpickling.*open"):
        check_plain_data(path)
    assert not (tmp_path / "marker").exists()
    torch.save({"step": 3, "t": torch.ones(2)}, tmp_path / "fine.bin")
    check_plain_data(tmp_path / "fine.bin")


def test_bad_trainer_state_files_are_one_line_errors(tmp_path):
    acc, model, opt, objects = make_run()
    ck = save_checkpoint(acc, tmp_path / "run", 1, objects, keep=1)
    good = (ck / STATE_JSON).read_text()
    for text, msg in [("{not json", "invalid JSON"), ("[1, 2]", "not a trainer state file"),
                      (good.replace('"version": 1', '"version": 9'), "version 9"),
                      (good.replace('"state"', '"other"', 1), "holds no state for state")]:
        (ck / STATE_JSON).write_text(text)
        with pytest.raises(CheckpointError, match=msg):
            load_checkpoint(acc, ck, objects)
    doc = json.loads(good)
    doc["objects"]["ema"]["step"] = {"__tensor__": "nope"}
    (ck / STATE_JSON).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="names tensor 'nope'"):
        load_checkpoint(acc, ck, objects)
    doc["objects"]["ema"] = {"x": 1}
    (ck / STATE_JSON).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="state of 'ema' does not fit"):
        load_checkpoint(acc, ck, objects)
    (ck / STATE_JSON).write_text(good)
    (ck / STATE_TENSORS).write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match=STATE_TENSORS):
        load_checkpoint(acc, ck, objects)
    (ck / STATE_TENSORS).unlink()
    with pytest.raises(CheckpointError, match=f"missing {STATE_TENSORS}"):
        load_checkpoint(acc, ck, objects)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(acc, tmp_path / "nowhere", objects)


def test_model_that_does_not_fit_is_a_checkpoint_error(tmp_path):
    from accelerate import Accelerator

    acc, model, opt, objects = make_run()
    ck = save_checkpoint(acc, tmp_path / "run", 1, objects, keep=1)
    acc2 = Accelerator(cpu=True)
    other = torch.nn.Linear(3, 3)
    other_opt = torch.optim.SGD(other.parameters(), lr=0.1)
    acc2.prepare(other, other_opt)
    with pytest.raises(CheckpointError, match="cannot be restored into this run"):
        load_checkpoint(acc2, ck, {"state": Counters()})


def test_truncated_model_weights_are_a_checkpoint_error(tmp_path):
    acc, model, opt, objects = make_run()
    ck = save_checkpoint(acc, tmp_path / "run", 1, objects, keep=1)
    (ck / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="step_00000001: cannot be restored into this run"):
        load_checkpoint(acc, ck, objects)


def test_grad_scaler_state_is_plain_data(tmp_path):
    """fp16 runs add accelerate's scaler.pt: the scan must accept what accelerate writes there."""
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    torch.save(scaler.state_dict(), tmp_path / "scaler.pt")
    check_plain_data(tmp_path / "scaler.pt")


def test_unstorable_state_is_a_bug_not_silently_dropped(tmp_path):
    class Odd:
        def state_dict(self):
            return {"f": len}

    with pytest.raises(TypeError, match="odd/f: cannot store a builtin_function_or_method"):
        write_trainer_state(tmp_path, {"odd": Odd()})


def test_recover_run_dir_restores_stranded_and_deletes_half_written(tmp_path):
    ck, ex = tmp_path / "checkpoints", tmp_path / "exports"
    (ck / "step_00000002").mkdir(parents=True)
    (ck / ".step_00000004.tmp").mkdir()  # save_checkpoint killed while writing
    (ck / ".tmp-step_00000006").mkdir()  # the same, from earlier versions
    (ck / ".step_00000002.old-0123abcd").mkdir()  # swap done: the trash is left
    (ex / ".step_00000002.old-89abcdef").mkdir(parents=True)  # killed between the two renames of the swap
    (ex / ".step_00000002.old-89abcdef" / "config.json").write_text("{}")
    (ex / ".step_00000004.tmp-deadbeef").mkdir()
    (ex / "notes.txt").write_text("mine")
    recover_run_dir(tmp_path)
    assert sorted(p.name for p in ck.iterdir()) == ["step_00000002"]
    assert sorted(p.name for p in ex.iterdir()) == ["notes.txt", "step_00000002"]
    assert (ex / "step_00000002" / "config.json").read_text() == "{}"


def test_trainer_state_keeps_types_and_exact_floats(tmp_path):
    obj = Counters()
    obj.step, obj.history = 7, (0.1 + 0.2, [float("inf"), None, True], {"nested": (1, "a")})

    class Tensors:
        def state_dict(self):
            return {"w": torch.arange(6, dtype=torch.float64).reshape(2, 3) / 7, "n": torch.tensor(3)}

    write_trainer_state(tmp_path, {"c": obj, "t": Tensors()})
    got = read_trainer_state(tmp_path)
    assert got["c"] == {"step": 7, "history": (0.1 + 0.2, [float("inf"), None, True], {"nested": (1, "a")})}
    assert torch.equal(got["t"]["w"], torch.arange(6, dtype=torch.float64).reshape(2, 3) / 7)
    assert got["t"]["n"].dtype == torch.int64
