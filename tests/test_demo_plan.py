"""Which stages a budget runs and which judge it scores with: the default demo trains no judge of
its own (Whisper reads everything) and trains three TTS runs per arm; a budget asking for a CTC judge
trains one, and every stage that scores waits for it."""

from pathlib import Path

from eval.demo import stages
from eval.demo.config import BUDGETS, DemoBudget, DemoConfig, tts_runs
from eval.demo.run import plan


def _stages(b: DemoBudget) -> dict:
    return {s.name: s for s in plan(Path("/nonexistent/out"), b, DemoConfig())}


def test_default_budget_judges_with_whisper_and_trains_three_runs_per_arm():
    b = BUDGETS["default"]
    got = _stages(b)
    assert "judge" not in got
    assert b.judge == "whisper" and stages.judge_spec(Path("/o"), b) == "whisper"
    runs = [r for r, _, _ in tts_runs(b)]
    assert runs == [f"{arm}_s{k}" for arm in ("semantic", "acoustic") for k in range(3)]
    for run in runs:
        assert got[f"score_{run}"].after == (f"tts_{run}",)
    assert got["recon"].after == ("vae_semantic", "vae_acoustic")


def test_a_ctc_judge_budget_trains_it_and_scores_after_it():
    from dataclasses import replace

    b = replace(BUDGETS["default"], judge="ctc")
    got = _stages(b)
    assert got["judge"].after == ("corpus",)
    assert "judge" in got["recon"].after and all("judge" in got[f"score_{r}"].after for r, _, _ in tts_runs(b))
    assert stages.judge_spec(Path("/o"), b) == str(Path("/o") / "judge")
    fn, args = got["judge"].call({})
    assert fn is stages.ctc and args[2] == "char" and args[4] == b.judge_steps
