"""End to end: the offline demo at its smoke-test budget, every stage real (about a minute on CPU)."""

import csv
import json
import math
import re

import pytest

from eval.demo import ARMS, BUDGETS, DemoConfig, run_demo, stages, verdict
from eval.scoring import p_text
from svae_tts.errors import ConfigError


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_demo(DemoConfig(out=str(out), budget="fast"))
    return out


def test_report_plots_wavs_and_finite_numbers(demo_dir):
    import torch

    assert torch.get_num_threads() == 1  # the demo gives the caller's thread setting back (conftest sets 1)
    report = (demo_dir / "report.md").read_text()
    for heading in ("## Verdict", "## Stage timings", "## Reconstruction", "## Latent probe", "## Convergence",
                    "## Does the TTS read its text?"):
        assert heading in report
    reliance = json.loads((demo_dir / "eval" / "text_reliance" / "text_reliance.json").read_text())
    assert [r["name"] for r in reliance] == list(ARMS) and all(r["items"] >= 2 for r in reliance)
    verdict_text = report.split("## Verdict")[1].split("##")[0]
    for r in reliance:  # each run's gap and p, from its own row
        assert f"{r['name']} {100 * r['gap']:+.1f} % (p {r['p']:.3f})" in verdict_text
    probe = json.loads((demo_dir / "eval" / "probe" / "probe.json").read_text())
    (test,) = probe["paired"]  # semantic against acoustic on the same held-out utterances, in the verdict
    assert (test["a"], test["b"]) == ("semantic", "acoustic") and probe["config"]["unit"] == "phoneme"
    assert "Latent probe (the VAEs, not the TTS): " in verdict_text
    assert f"{p_text(test['p'])}, {test['n']} utterances, one probe seed" in verdict_text
    recon = json.loads((demo_dir / "eval" / "recon" / "summary.json").read_text())  # the arms' reconstructions,
    assert any((t["a"], t["b"], t["metric"]) == ("semantic", "acoustic", "cer") for t in recon["paired"])  # tested
    assert re.search(r"\[One VAE per arm: this semantic VAE vs this acoustic VAE, not the arms\.\] Reconstructions: "
                     r"(semantic is (better|worse) than acoustic|no difference shown between semantic and acoustic) on ",
                     verdict_text)
    assert verdict_text.count("[One VAE per arm") == 1  # said once, before every VAE comparison
    conv = demo_dir / "eval" / "convergence"
    for name in ("convergence.png", "steps_to_threshold.png"):
        assert (conv / name).stat().st_size > 1000
    rows = list(csv.DictReader((conv / "results.csv").open()))
    assert {r["run"] for r in rows} == set(ARMS)
    for row in rows:
        for key in ("sim", "mos_ovrl", "wer"):
            assert math.isfinite(float(row[key])), (row["run"], row["step"], key)
    for arm in ARMS:
        assert len({r["step"] for r in rows if r["run"] == arm}) >= 2  # several checkpoints per run
        wavs = list((conv / "audio" / arm).rglob("*.wav"))
        assert wavs and all(w.stat().st_size > 1000 for w in wavs)
        assert f"](eval/convergence/audio/{arm}/step_" in report  # the report links the wavs
    stages = json.loads((demo_dir / "stages.json").read_text())["stages"]
    assert all(v["seconds"] > 0 for v in stages.values()) and len(stages) == 13  # no judge stage: Whisper judges
    # the semantic arm pulled its latents toward the budget's target (and says so), the acoustic arm toward none
    from vae.model import SemanticVAE

    targets = {arm: SemanticVAE.from_pretrained(stages[f"vae_{arm}"]["result"]["export"]).config.teacher_target
               for arm in ARMS}
    assert targets == {"semantic": BUDGETS["fast"].vae_align_target, "acoustic": None}
    assert "top principal components (a fixed target) at weight 10" in report
    # the eval's parts ran as stages of their own: the probe read the latent sets, each TTS run was
    # scored by its own stage, so the eval stage only gathered the cache
    assert {m["kind"] for m in probe["models"].values()} == {"latent_set"}
    assert probe["models"]["semantic"]["semantic"] is True and probe["models"]["acoustic"]["semantic"] is False
    assert all(stages[f"score_{arm}"]["result"]["scored_now"] == len({r["step"] for r in rows if r["run"] == arm})
               for arm in ARMS)
    assert stages["eval"]["result"]["convergence"]["scored_now"] == 0


def test_the_reports_try_it_command_makes_a_wav(demo_dir, capsys, monkeypatch):
    """The command a newcomer copies from the report runs as printed (from the folder the demo was run
    in), writes speech of about the length the sentence needs into the demo's folder, and a second
    paste is refused in one line rather than replacing it silently."""
    import shlex

    import soundfile as sf

    from svae_tts.cli import main

    report = (demo_dir / "report.md").read_text()
    command = report.split("## Try it")[1].split("```bash\n")[1].split("\n```")[0]
    argv = shlex.split(command)
    assert argv[:2] == ["svae-tts", "synthesize"] and "/exports/step_" in argv[argv.index("--model") + 1]
    assert "/tts_semantic" in argv[argv.index("--model") + 1]
    monkeypatch.chdir(demo_dir.parent)  # the paths are as the demo's caller sees them
    assert main(argv[1:]) == 0
    out = demo_dir / "try_it.wav"
    wav, sr = sf.read(out)
    test_item = json.loads((demo_dir / "eval" / "test_list.jsonl").read_text().splitlines()[0])
    assert argv[argv.index("--text") + 1] == test_item["text"] and 0.3 < len(wav) / sr < 10
    capsys.readouterr()
    assert main(argv[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert "try_it.wav" in err and "--overwrite" in err and "\n" not in err
    assert main(argv[1:] + ["--overwrite"]) == 0


def test_rerun_skips_finished_stages(demo_dir, capsys):
    run_demo(DemoConfig(out=str(demo_dir), budget="fast"))
    out = capsys.readouterr().out
    assert out.count("done already") == 13


def test_other_budget_in_same_folder_refused(demo_dir):
    with pytest.raises(ConfigError, match="another budget"):
        run_demo(DemoConfig(out=str(demo_dir), budget="default"))


def _paired(metric, diff, p):
    return {"a": "semantic", "b": "acoustic", "step": 10, "metric": metric, "diff": diff, "p": p, "n": 12}


NO_ARM = "one training run per arm cannot tell the arm's effect from run-to-run spread; no arm-level claim"


def test_verdict_is_computed_from_scores_and_paired_tests():
    rows = [{"run": "semantic", "step": 10, "wer": 0.5, "cer": 0.3, "sim": 0.6},
            {"run": "acoustic", "step": 10, "wer": 0.7, "cer": 0.4, "sim": 0.5},
            {"run": "semantic", "step": 5, "wer": 0.9, "cer": 0.8, "sim": 0.1}]
    good_judge = {"wer": 0.1, "cer": 0.05}
    paired = [_paired("wer", -0.2, 0.001), _paired("cer", -0.1, 0.002), _paired("sim", 0.1, 0.01)]
    text = verdict({"rows": rows, "paired": paired}, good_judge)
    # no lp_gain in these rows: CER is the primary endpoint, read first, on its raw paired p
    assert text.startswith(f"This semantic model vs this acoustic model ({NO_ARM}): this semantic model is better "
                           "than this acoustic model on the primary endpoint cer. This semantic model is better than "
                           "this acoustic model on CER at the last step (0.300 vs 0.400; paired p 0.002, n 12)")
    # the secondaries on their p Holm-adjusted over the two of them: WER 0.001 x2, SIM 0.01 x1
    assert "on WER at the last step (0.500 vs 0.700; paired p 0.001, Holm-adjusted 0.002, n 12)" in text
    assert "is better than this acoustic model on SIM at the last step (0.600 vs 0.500; paired p 0.010, " \
        "Holm-adjusted 0.010, n 12)" in text
    assert "semantic better" not in text and "semantic worse" not in text and "the paper claims" not in text
    # the same numbers without a significant paired test name no difference, whatever their sign
    text = verdict({"rows": rows, "paired": [_paired(m, d, 0.3) for m, d in (("wer", -0.2), ("cer", -0.1), ("sim", 0.1))]},
                   good_judge)
    assert "no difference shown between this semantic model and this acoustic model on the primary endpoint cer." in text and "better" not in text
    assert "no paired test, so no difference named" in verdict({"rows": rows}, good_judge)
    # a test stored the other way round (acoustic first) is read with its sign flipped
    flipped = [{**_paired("sim", -0.1, 0.01), "a": "acoustic", "b": "semantic"}]
    assert "this semantic model is better than this acoustic model on SIM at the last step (0.600 vs 0.500;" in \
        verdict({"rows": rows, "paired": flipped}, good_judge)
    paired[1] = _paired("cer", 0.1, 0.002)  # significantly worse on the primary endpoint
    assert "this semantic model is worse than this acoustic model on the primary endpoint cer" in \
        verdict({"rows": rows, "paired": paired}, good_judge)
    # a secondary whose raw p is below 0.05 but whose Holm-adjusted p is not: no difference named
    paired = [_paired("wer", -0.2, 0.03), _paired("cer", -0.1, 0.002), _paired("sim", 0.1, 0.04)]
    text = verdict({"rows": rows, "paired": paired}, good_judge)
    assert "no difference shown between this semantic model and this acoustic model on WER at the last step " \
        "(0.500 vs 0.700; paired p 0.030, Holm-adjusted 0.060, n 12)" in text
    assert "on SIM at the last step (0.600 vs 0.500; paired p 0.040, Holm-adjusted 0.060, n 12)" in text
    assert text.count("no difference shown") == 2
    # a judge that cannot read words but reads characters: WER is set aside, CER and SIM still count
    text = verdict({"rows": rows, "paired": paired}, {"wer": 0.95, "cer": 0.3})
    assert "WER: uninformative" in text and "this semantic model is better than this acoustic model on the primary" in text
    assert "this semantic model is better than this acoustic model on SIM at the last step (0.600 vs 0.500; " \
        "paired p 0.040, Holm-adjusted 0.040, n 12)" in text  # one secondary read: nothing to adjust for
    assert "says nothing" in verdict({"rows": rows[:1]})  # an arm without scores
    # transcripts that scrambled texts match as well: nothing was understood, the rate is not read
    rows[0].update(wer_p=0.4, cer_p=0.3)
    rows[1].update(wer_p=0.001, cer_p=0.6)
    text = verdict({"rows": rows, "paired": paired}, good_judge)
    assert "CER: neither model is understood yet" in text and "the primary endpoint cer could not be read" in text
    # only the acoustic model beats chance on WER: still read, and the paired test decides
    assert ("no difference shown between this semantic model and this acoustic model on WER at the last step "
            "(0.500 vs 0.700; chance p 0.400 / 0.001; paired p 0.030") in text
    rows[1]["wer"] = 1.05  # a WER above 1 is never "understood", whatever its p
    assert "WER: neither model is understood yet" in verdict({"rows": rows}, good_judge)
    for r in rows:
        del r["cer"]
        r["sim"] = float("nan")
    assert "CER: not measured" in verdict({"rows": rows}, good_judge)
    assert "the primary endpoint cer could not be read" in verdict({"rows": rows}, good_judge)


def test_report_states_the_endpoint_fixed_before_the_run():
    from dataclasses import replace

    from eval.demo.report import _endpoint_line

    ev = {"convergence": {"primary": "cer"}, "seeds": None}
    assert _endpoint_line(ev, replace(BUDGETS["proof"], primary="cer")) == (
        "Primary endpoint (fixed before the run): cer at the last step; runs per arm: 3; test: Welch's t-test "
        "between runs (alpha 0.05); secondary metrics: Holm-adjusted.")
    assert BUDGETS["default"].primary == "lp_gain"
    assert "lp_gain at the last step; runs per arm: 3;" in _endpoint_line(ev, BUDGETS["default"])
    # one run per arm (or no budget and no seeds): no test between runs, and the line says so
    one = _endpoint_line(ev, None)
    assert one == ("Primary endpoint (fixed before the run): cer at the last step; runs per arm: 1, so no test "
                   "between runs: two models are compared, item by item, never the arms.")
    assert _endpoint_line(ev, BUDGETS["fast"]).startswith("Primary endpoint (fixed before the run): lp_gain at the "
                                                          "last step; runs per arm: 1, so no test between runs")


def test_one_run_per_arm_never_names_an_arm():
    """However small the paired p, two single models are two models: the verdict compares them and
    says that one run per arm cannot speak for the arm. lp_gain, when scored, is the primary."""
    rows = [{"run": "semantic", "step": 10, "cer": 0.3, "lp_gain": 0.8, "lp_gain_p": 0.001},
            {"run": "acoustic", "step": 10, "cer": 0.6, "lp_gain": 0.1, "lp_gain_p": 0.2}]
    paired = [_paired("cer", -0.3, 0.001), _paired("lp_gain", 0.7, 0.001)]
    text = verdict({"rows": rows, "paired": paired, "primary": "lp_gain"}, {"cer": 0.05})
    assert "semantic better" not in text and "semantic worse" not in text and "arm is" not in text
    assert NO_ARM in text and text.index("LP gain at the last step") < text.index("CER at the last step")
    assert "this semantic model is better than this acoustic model on the primary endpoint lp_gain" in text
    # neither model's audio carries its text: lp_gain is not read, whatever the paired test says
    for r in rows:
        r["lp_gain_p"] = 0.3
    text = verdict({"rows": rows, "paired": paired, "primary": "lp_gain"}, {"cer": 0.05})
    assert "the primary endpoint lp_gain could not be read" in text
    assert "LP gain: neither model's audio carries its text yet (this semantic model +0.800 vs this acoustic model " \
        "+0.100; sign-flip p against 0 0.300/0.300)" in text


def test_paired_test_needs_a_real_difference():
    import random

    from eval.scoring import paired_test

    rng = random.Random(0)
    a = [{"id": str(i), "sim": 0.5 + rng.gauss(0, 0.1), "c_err": rng.randint(3, 9), "c_n": 10} for i in range(12)]
    # SIM 0.011 apart on average with item noise: not significant (the case the old verdict called a win)
    b = [{"id": r["id"], "sim": r["sim"] + 0.011 + rng.gauss(0, 0.05), "c_err": r["c_err"], "c_n": 10} for r in a]
    assert paired_test(a, b, "sim")["p"] > 0.05
    assert paired_test(a, b, "cer") == {"diff": 0.0, "p": 1.0, "n": 12}
    # a consistent gap on every item is significant, in the right direction, and seeded
    c = [{**r, "sim": r["sim"] + 0.2, "c_err": r["c_err"] - 2} for r in a]
    t = paired_test(a, c, "sim")
    assert t["p"] < 0.01 and abs(t["diff"] + 0.2) < 1e-9 and t == paired_test(a, c, "sim")
    t = paired_test(a, c, "cer")
    assert t["p"] < 0.01 and abs(t["diff"] - 0.2) < 1e-9  # corpus CER: 24 more errors over 120 characters
    assert paired_test(a[:1], c[:1], "sim") is None  # one item cannot be tested
    assert paired_test(a, [{**r, "id": "x" + r["id"]} for r in c], "sim") is None  # no common items


def test_stage_configs_equal_the_command_lines_they_stand_for(tmp_path):
    """Each stage's typed config is what ``python -m vae.train`` / ``tts_recipes.train`` would build
    from the shipped config and ``key=value`` overrides."""
    from svae_tts.config import load_config
    from tts_recipes.train import load_train_config
    from vae.train_config import TrainConfig, training_config_path

    out, latents = tmp_path / "demo", str(tmp_path / "latents")
    for b in BUDGETS.values():
        every = max(1, b.vae_steps // 4)
        for arm in ARMS:
            cli = [f"run_dir={out / f'vae_{arm}'}", f"data.train={out / 'corpus'}", f"max_steps={b.vae_steps}",
                   "seed=3", f"vae={b.vae_preset}", f"data.batch_size={b.vae_batch_size}",
                   f"data.segment_seconds={b.vae_segment_seconds}", f"loss.disc_start_step={b.vae_disc_start}",
                   f"loss.adv_start_step={b.vae_adv_start}", f"save_every={every}", f"valid_every={every}",
                   f"audio_every={b.vae_steps}", "export_every=0", "resume=auto", "data.num_workers=0",
                   "vae_overrides=" + json.dumps(b.vae_overrides)]
            if arm == "semantic":
                cli += [f"teacher.model={out / 'teacher'}", "teacher.layer=-1", f"teacher.target={b.vae_align_target}",
                        f"loss.align_weight={b.vae_align_weight}", f"loss.align_start_step={b.vae_align_start}"]
            assert stages.vae_config(out, arm, b, 3) == load_config(TrainConfig, training_config_path(f"tiny_{arm}"), cli)
            cli = [f"name={arm}", f"run_dir={out / f'tts_{arm}'}", "seed=3", "data.feature=latent",
                   f"data.latent_set={latents}", f"max_steps={b.tts_steps}", f"save_every={b.tts_save_every}", "resume=auto"]
            cli += [f"data.frames_per_batch={b.tts_frames_per_batch}"] * (b.tts_frames_per_batch is not None)
            cli += [f"optim.warmup_steps={b.tts_warmup_steps}"] * (b.tts_warmup_steps is not None)
            cli += [f"optim.lr={b.tts_lr}"] * (b.tts_lr is not None)
            cli += [f"data.text_input={b.tts_text_input}"] * (b.tts_text_input is not None)
            assert stages.tts_config(out, arm, latents, b, 3) == load_train_config(b.tts_preset, cli)
    # the proof's semantic arm is aligned from step 600 of its 1,200 (the acoustic arm is not aligned at all),
    # the default demo's from step 0
    assert stages.vae_config(out, "semantic", BUDGETS["proof"], 3).loss.align_start_step == 600
    assert stages.vae_config(out, "acoustic", BUDGETS["proof"], 3).teacher.enabled is False
    assert stages.vae_config(out, "semantic", BUDGETS["default"], 3).loss.align_start_step == 0
    proof = stages.tts_config(out, "semantic", latents, BUDGETS["proof"], 3)
    assert (proof.data.text_input, proof.optim.lr) == ("phonemes", 3e-3)
    default = stages.tts_config(out, "semantic", latents, BUDGETS["default"], 3)
    assert (default.data.text_input, default.optim.lr, default.max_steps) == ("phonemes", 3e-3, 2000)
    small = stages.tts_config(out, "semantic", latents, BUDGETS["small"], 3)
    assert (small.data.frames_per_batch, small.optim.warmup_steps) == (20000, 2000)
    assert small.optim.lr == load_train_config("small").optim.lr  # the GPU budget keeps its preset's rate


def test_a_training_stage_stopped_before_its_first_checkpoint_runs_again(demo_dir, tmp_path):
    """Re-running the demo after a stop mid-stage: a run dir with no checkpoint yet is the demo's
    own leftover, cleared, not refused; one with checkpoints is resumed."""
    done = json.loads((demo_dir / "stages.json").read_text())["stages"]
    latents = done["latents_semantic"]["result"]["dir"]
    leftover = tmp_path / "tts_semantic" / "tb"
    leftover.mkdir(parents=True)
    (leftover / "events").write_text("partial")
    r = stages.tts(tmp_path, "semantic", latents, BUDGETS["fast"], seed=0)
    assert r["step"] == BUDGETS["fast"].tts_steps and not (leftover / "events").exists()


def test_a_budget_learning_rate_must_be_positive():
    from eval.demo.config import DemoBudget

    for bad in (0.0, -3e-3, float("nan")):
        with pytest.raises(ConfigError, match="DemoBudget.tts_lr"):
            DemoBudget(tts_lr=bad)
    assert DemoBudget().tts_lr is None  # the preset's own


def test_unknown_budget_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown demo budget 'huge'"):
        run_demo(DemoConfig(out=str(tmp_path / "d"), budget="huge"))
    assert not (tmp_path / "d").exists()  # refused before anything was written


def test_cli_budget_conflict_is_one_line_exit_2(demo_dir, capsys):
    from svae_tts.cli import main

    assert main(["demo", "--out", str(demo_dir), "--preset", "default"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another budget" in err[0]


def test_proof_path_compares_arms_over_seeds(demo_dir, tmp_path):
    """The proof budget's extra path on the fast demo's corpus and latents: two TTS seeds per
    arm, the convergence over seeds, its report section and the verdict drawn from it."""
    import os
    from dataclasses import replace

    from eval.demo.config import tts_runs
    from eval.demo.report import write_report

    b = replace(BUDGETS["fast"], tts_seeds=2, cer_threshold=0.9)
    assert [r for r, _, _ in tts_runs(b)] == ["semantic_s0", "semantic_s1", "acoustic_s0", "acoustic_s1"]
    assert [r for r, _, _ in tts_runs(BUDGETS["fast"])] == list(ARMS)  # one seed: the plain arm names
    assert BUDGETS["proof"].tts_seeds >= 3 and BUDGETS["proof"].cer_threshold is not None
    done = json.loads((demo_dir / "stages.json").read_text())["stages"]
    out = tmp_path / "proof"
    out.mkdir()
    assert not (demo_dir / "judge").exists()  # the fast budget judges with Whisper: no judge trained
    os.symlink(demo_dir / "corpus", out / "corpus")
    r = {k: v["result"] for k, v in done.items() if not k.startswith(("tts_", "eval"))}
    for run, arm, k in tts_runs(b):
        r[f"tts_{run}"] = stages.tts(out, run, r[f"latents_{arm}"]["dir"], b, seed=k)
    # other seeds, other weights: the runs differ
    first = {run: r[f"tts_{run}"]["losses"] for run, _, _ in tts_runs(b)}
    assert first["semantic_s0"] != first["semantic_s1"]
    r["eval"] = stages.evaluate(out, b, r, "cpu")
    assert [t["name"] for t in r["eval"]["text_reliance"]] == [run for run, _, _ in tts_runs(b)]
    seeds = r["eval"]["seeds"]
    assert seeds["arms"] == {"semantic": [0, 1], "acoustic": [0, 1]}
    assert {p["metric"] for p in seeds["paired"]} >= {"cer", "sim"}
    assert all(p["seeds"] == 2 and p["n"] == 2 * b.eval_items for p in seeds["paired"])
    conv = out / "eval" / "convergence"
    assert (conv / "convergence_seeds.png").stat().st_size > 1000
    assert "## Item-level, pooled over seed pairs (does not test the arm: runs are the unit)" in (conv / "seeds.md").read_text()
    report = write_report(out, "proof-test", {"x": 1.0}, r).read_text()
    assert "## Convergence over seeds" in report and "convergence_seeds.png" in report
    verdict_text = report.split("## Verdict")[1].split("##")[0]
    endpoint, said = verdict_text.strip().split("\n\n", 1)
    assert endpoint == ("Primary endpoint (fixed before the run): lp_gain at the last step; runs per arm: 2; test: "
                        "Welch's t-test between runs (alpha 0.05); secondary metrics: Holm-adjusted.")
    assert said.startswith(_expected_runs_verdict(r["eval"], [run for run, _, _ in tts_runs(b)])), said[:600]
    assert "semantic better" not in verdict_text  # 2 + 2 runs: never an arm-level sentence


def _expected_runs_verdict(ev: dict, runs: list[str]) -> str:
    """The one opening the verdict must take, worked out from the runs' own last rows: lp_gain was
    measured in every run (the judge gives it), and a run's audio carries its text when its gain is
    above 0 with sign-flip p below CHANCE_P. After 20 TTS steps none should, but the rows decide."""
    from eval.demo.verdict import CHANCE_P, final_rows

    assert ev["seeds"]["primary"] == "lp_gain"
    last = final_rows(ev["convergence"])
    assert sorted(last) == sorted(runs)
    gains = {run: (row.get("lp_gain"), row.get("lp_gain_p")) for run, row in last.items()}
    assert all(isinstance(v, float) and math.isfinite(v) for pair in gains.values() for v in pair), gains
    carrying = sorted(run for run, (gain, p) in gains.items() if gain > 0 and p < CHANCE_P)
    what = "carries its text (lp_gain > 0, sign-flip p < 0.05)"
    if carrying:
        return f"Runs whose last checkpoint {what}: {', '.join(carrying)} (of {len(runs)}). Over the runs: "
    return (f"At this scale no TTS run's last checkpoint {what}, so this run neither supports nor contradicts the "
            "paper's claim. The numbers, for the record: ")


def test_reliance_sentence_names_only_runs_whose_own_text_significantly_helps():
    from eval.demo.verdict import reliance_sentence

    row = lambda name, gap, p: {"name": name, "gap": gap, "p": p}  # noqa: E731
    text = reliance_sentence([row("semantic", 0.12, 0.001), row("acoustic", 0.02, 0.2)])
    assert text.startswith("Runs that read their text") and ": semantic (1 of 2;" in text
    assert reliance_sentence([row("semantic", 0.01, 0.3), row("acoustic", -0.05, 0.001)]).startswith("No TTS run")
    assert "not measured" in reliance_sentence([row("semantic", 0.0, None)])


def _seeds(primary, between):
    return {"reference_arm": "acoustic", "metric": "cer", "reference_final": 0.6, "primary": primary, "paired": [],
            "between_runs": between,
            "steps_to_reference": {"semantic": {"per_seed": {0: 100, 1: 200, 2: 100}, "never": 0, "mean": 400 / 3,
                                                "sd": 57.7, "min": 100, "max": 200, "n": 3},
                                   "acoustic": {"per_seed": {0: 300, 1: 300, 2: 300}, "never": 0, "mean": 300, "sd": 0,
                                                "min": 300, "max": 300, "n": 3}}}


def _run_rows(metric, sem, ac, **extra):
    return [{"run": f"{a}_s{k}", "step": 300, metric: v, **extra} for a, vals in (("semantic", sem), ("acoustic", ac))
            for k, v in enumerate(vals)]


def test_runs_verdict_reads_seeds_only_when_speech_is_understood():
    from eval.demo.verdict import runs_verdict
    from eval.seeds import group_runs, run_level_tests

    rows = _run_rows("cer", [0.50, 0.52, 0.48], [0.60, 0.61, 0.62], cer_p=0.005)
    seeds = _seeds("cer", run_level_tests(rows, group_runs([r["run"] for r in rows]), ("cer",), "cer"))
    text = runs_verdict(seeds, {"rows": rows}, {"cer": 0.3})
    assert text.startswith("Runs whose last checkpoint beats the scrambled-text chance level on CER: acoustic_s0, ")
    assert "Primary endpoint CER: semantic is better than acoustic on cer (semantic 0.500 ± 0.020 vs acoustic 0.610 ± 0.010" in text
    assert "ratio 0.44" in text
    assert "Uninformative" in runs_verdict(seeds, {"rows": rows}, {"cer": 0.95})
    for r in rows:
        r["cer_p"] = 0.4  # the transcripts match scrambled texts as well: nothing understood
    text = runs_verdict(seeds, {"rows": rows}, {"cer": 0.3})
    assert text.startswith("At this scale no TTS run's last checkpoint beats the scrambled-text chance level on CER")


def test_runs_verdict_on_lp_gain_names_the_arm_only_from_three_runs_apart():
    from eval.demo.verdict import runs_verdict
    from eval.seeds import group_runs, run_level_tests

    def text(sem, ac, p=0.001):
        rows = [{**r, "cer": 0.7, "sim": 0.5 + 0.01 * (i % 3)} for i, r in enumerate(_run_rows("lp_gain", sem, ac, lp_gain_p=p))]
        return runs_verdict(_seeds("lp_gain", run_level_tests(rows, group_runs([r["run"] for r in rows]),
                                                              ("cer", "sim", "lp_gain"), "lp_gain")), {"rows": rows}, {})

    apart = text([0.50, 0.55, 0.60], [0.10, 0.12, 0.15])
    assert apart.startswith("Runs whose last checkpoint carries its text (lp_gain > 0, sign-flip p < 0.05)")
    assert "Primary endpoint LP_GAIN: semantic is better than acoustic on lp_gain (semantic 0.550 ± 0.050 vs acoustic 0.123" in apart
    assert ("Secondary metrics (Welch's test between runs, p Holm-adjusted over 2): adjusted p < 0.05 for none (all "
            "adjusted p: CER undefined (no spread between runs), SIM 1.000)") in apart
    overlapping = text([0.20, 0.50, 0.30], [0.25, 0.10, 0.40])
    assert "Primary endpoint LP_GAIN: no difference shown between semantic and acoustic on lp_gain (semantic 0.333" \
        in overlapping
    assert "semantic is better" not in overlapping and "semantic is worse" not in overlapping
    assert text([0.5, 0.55, 0.6], [0.1, 0.12, 0.15], p=0.3).startswith("At this scale no TTS run's last checkpoint "
                                                                       "carries its text")
    rows = _run_rows("cer", [0.5] * 3, [0.6] * 3)
    assert runs_verdict(_seeds("lp_gain", []), {"rows": rows}, {}).startswith(
        "The primary endpoint lp_gain, fixed before the run, was not measured in any run")


def test_budgets_hold_out_dev_voices_and_the_report_names_the_splits(tmp_path, monkeypatch):
    """Every budget's corpus has dev voices beside test ones (the stage passes them on), and the
    report lists train/dev/test and says which split the teacher and judge were scored on."""
    from data_prep import espeak_corpus
    from eval.demo import report

    assert {name: b.dev_speakers for name, b in BUDGETS.items()} == {"default": 4, "fast": 1, "proof": 4, "small": 4}
    seen = []
    monkeypatch.setattr(espeak_corpus, "build_espeak_corpus", lambda out, cfg, num_proc: seen.append(cfg) or {})
    for b in BUDGETS.values():
        stages.corpus(tmp_path, b, seed=0)
    assert [(c.voices, c.test_speakers, c.dev_speakers) for c in seen] == [
        (b.voices, b.test_speakers, b.dev_speakers) for b in BUDGETS.values()]
    split = {"utterances": 3, "hours": 0.01, "speakers": 1}
    results = {"corpus": {"train": split, "dev": split, "test": split}, "teacher": {"per": 0.2, "eval_split": "dev"},
               "judge": {"cer": 0.3}, **{f"vae_{arm}": {"step": 1, "first": {}, "last": {}} for arm in ARMS}}
    lines = report._stages(results)
    assert [line.split(" |")[0] for line in lines if line.startswith(("| train", "| dev", "| test"))] == [
        "| train", "| dev", "| test"]
    assert any("PER 0.200 on held-out voices (dev split)" in line for line in lines)
    assert any("(test split)" in line for line in lines)  # a judge from before dev existed read test
