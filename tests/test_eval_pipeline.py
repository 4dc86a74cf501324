"""Test lists, recon, tts and the convergence command over real (tiny, briefly trained) models."""

import csv
import itertools
import json
import shutil
from dataclasses import asdict

import pytest

from eval.errors import EvalError
from eval.scoring import Scorer, holm
from svae_tts.cli import main
from svae_tts.errors import NothingDone, SvaeError
from tests.eval_helpers import tiny_corpus, tiny_ctc_dir, tiny_vae_dir



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalworld")
    corpus = tiny_corpus(root, per_speaker=2, seconds=1.0)
    ctc = tiny_ctc_dir(root / "ctc")
    return {"root": root, "corpus": corpus, "ctc": ctc}


# ---- test lists ---------------------------------------------------------------------------------

def test_build_test_list_same_speaker_other_utterance_held_out(world, tmp_path):
    from eval.testlist import build_test_list, load_test_list, write_test_list

    items = build_test_list(world["corpus"], seed=0)
    assert len(items) == 4
    for it in items:
        assert it.speaker in ("s2", "s3")  # s0/s1 are train speakers
        assert it.prompt_id != it.id and it.prompt_id.split("_")[0] == it.id.split("_")[0]
    two = build_test_list(world["corpus"], num_items=2)
    assert {i.speaker for i in two} == {"s2", "s3"}  # round-robin over speakers
    p = write_test_list(items, tmp_path / "list.jsonl")
    assert load_test_list(p) == items
    with pytest.raises(SvaeError, match="already exists"):
        write_test_list(items, p)
    assert build_test_list(world["corpus"], seed=0) == items  # deterministic
    assert {it.split for it in items} == {"test"}  # each item says which split it scores
    old = tmp_path / "old.jsonl"  # a list written before items recorded their split still loads
    old.write_text("".join(json.dumps({k: v for k, v in asdict(it).items() if k != "split"}) + "\n" for it in items))
    assert [it.split for it in load_test_list(old)] == [None] * len(items)


def test_seen_speakers_only_is_an_error(tmp_path):
    from eval.testlist import build_test_list

    corpus = tiny_corpus(tmp_path, train_speakers=("s2",), test_speakers=("s2",), per_speaker=2)
    with pytest.raises(EvalError, match="allow_seen_speakers"):
        build_test_list(corpus)
    assert len(build_test_list(corpus, allow_seen_speakers=True)) == 2


def test_test_list_from_a_non_corpus_names_the_dir(tmp_path):
    from eval.testlist import build_test_list

    (tmp_path / "not_a_corpus").mkdir()
    with pytest.raises(SvaeError, match="not_a_corpus: not a saved corpus"):
        build_test_list(tmp_path / "not_a_corpus")


def test_librispeech_pc_list(tmp_path):
    from eval.testlist import load_test_list

    lst = tmp_path / "cross.lst"
    lst.write_text("1089-134686-0000\t10.4\tHe hoped there would be stew.\t1089-134686-0004\t4.2\tHello, Bertie.\n")
    (tmp_path / "ls").mkdir()
    [it] = load_test_list(lst, tmp_path / "ls")
    assert it.id == "1089-134686-0004" and it.text == "Hello, Bertie." and it.target_duration == 4.2
    assert it.prompt_audio == str(tmp_path / "ls" / "1089" / "134686" / "1089-134686-0000.flac")
    bad = tmp_path / "bad.lst"
    bad.write_text("a\tb\tc\n")
    with pytest.raises(EvalError, match=r"bad.lst:1: expected 6 tab-separated columns"):
        load_test_list(bad)


# ---- recon and tts ------------------------------------------------------------------------------

def test_recon_ranks_identity_above_random_vae(world, tmp_path):
    from eval.recon import run_recon
    from eval.scoring import Scorer

    vae = tiny_vae_dir(tmp_path / "vae")
    # the spec as a Path (what a trainer's result holds): it must not break summary.json at the end
    s = run_recon([("tiny", vae), ("tiny_again", str(vae))], world["corpus"], tmp_path / "out",
                  Scorer(asr=str(world["ctc"]), sim="resemblyzer", mos=None), limit=2)
    m = s["models"]["tiny"]
    assert m["n"] == 2 and m["pesq"] < 2.5 and m["stoi"] < 0.9 and m["sim"] < 0.99
    assert {"wer", "wer_corpus", "cer", "mel_dist", "si_sdr"} <= set(m)
    rows = [json.loads(l) for l in (tmp_path / "out" / "tiny" / "utterances.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["s2_0", "s2_1"]
    assert "| tiny |" in (tmp_path / "out" / "report.md").read_text()
    # arms are compared item by item: the same VAE twice differs in nothing; against the originals
    # the judge's CER difference is the corpus-level one from the edit counts
    paired = {(t["a"], t["b"], t["metric"]): t for t in s["paired"]}
    assert all(paired[("tiny", "tiny_again", m)]["diff"] == 0 and paired[("tiny", "tiny_again", m)]["p"] == 1.0
               for m in ("cer", "pesq", "stoi", "sim"))
    gt = [json.loads(l) for l in (tmp_path / "out" / "ground_truth" / "utterances.jsonl").read_text().splitlines()]
    want = (sum(r["c_err"] for r in gt) - sum(r["c_err"] for r in rows)) / sum(r["c_n"] for r in rows)
    assert paired[("ground_truth", "tiny", "cer")]["diff"] == pytest.approx(want)
    assert ("ground_truth", "tiny", "pesq") not in paired  # the originals have no signal metrics
    assert "| tiny | tiny_again | pesq | +0.0000 |" in (tmp_path / "out" / "report.md").read_text()
    from eval.recon import recon_verdicts

    assert "no difference shown between tiny and tiny_again on the judge's CER (tiny minus tiny_again +0.000" in " ".join(recon_verdicts(s))
    worse = {**s, "paired": [{"a": "x", "b": "y", "metric": "cer", "diff": 0.15, "p": 0.004, "n": 12},
                             {"a": "x", "b": "y", "metric": "pesq", "diff": 0.3, "p": 0.01, "n": 12}]}
    assert recon_verdicts(worse) == ["x is worse than y on the judge's CER (x minus y +0.150, p 0.0040, 12 items).",
                                     "x is better than y on PESQ (x minus y +0.300, p 0.0100, 12 items)."]
    # with the pair's Holm-adjusted p (as run_recon writes it) the verdict decides on that, and says so
    adjusted = {**s, "paired": [{**t, "holm_p": h} for t, h in zip(worse["paired"], (0.008, 0.06))]}
    assert recon_verdicts(adjusted) == [
        "x is worse than y on the judge's CER (x minus y +0.150, Holm-adjusted p 0.0080, 12 items).",
        "no difference shown between x and y on PESQ (x minus y +0.300, Holm-adjusted p 0.0600, 12 items)."]
    assert all(t["holm_p"] >= t["p"] for t in s["paired"])


def test_tts_eval_ground_truth_and_missing_generated_audio(world, tmp_path):
    from eval.scoring import Scorer
    from eval.testlist import build_test_list
    from eval.tts import run_tts_eval

    items = build_test_list(world["corpus"], num_items=2)
    sc = Scorer(asr=str(world["ctc"]), sim="resemblyzer", mos=None)
    s = run_tts_eval(items, tmp_path / "gt", ground_truth=True, scorer=sc)
    assert s["n"] == 2 and 0.3 < s["sim"] <= 1.0  # same synthetic voice as the prompt
    gen = tmp_path / "gen"
    gen.mkdir()
    shutil.copy(items[0].target_audio, gen / f"{items[0].id}.wav")
    s = run_tts_eval(items, tmp_path / "gen_out", generated_dir=gen, scorer=sc)
    assert s["n"] == 1 and s["failed_items"] == 1 and items[1].id in s["failures"][0]["id"]


# ---- convergence --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(world):
    """Two tiny VAE 'runs' really trained two Adam steps (different seeds), exported at steps 0, 1 and 2."""
    from datasets import load_from_disk

    from tests.eval_helpers import train_standin_run

    train_audio = load_from_disk(str(world["corpus"]))["train"]["audio"][:2]
    out = {}
    for name, sem, seed in (("semantic", True, 0), ("acoustic", False, 1)):
        losses = train_standin_run(world["root"] / "runs" / name, train_audio, [0, 1, 2], semantic=sem, seed=seed,
                                   segment=0.5)
        assert len(losses) == 2
        out[name] = world["root"] / "runs" / name
    return out


def _sign_flip_p(d: list[float]) -> float:
    """Exact two-sided sign-flip p: the share of the 2^n sign patterns whose sum is at least as far
    from 0 as the observed one."""
    observed = abs(sum(d))
    patterns = list(itertools.product((-1, 1), repeat=len(d)))
    return sum(abs(sum(s * x for s, x in zip(signs, d))) >= observed - 1e-12 for signs in patterns) / len(patterns)


def test_convergence_command_outputs_and_cache(world, runs, tmp_path, capsys, monkeypatch):
    from eval.testlist import build_test_list, write_test_list

    lst = write_test_list(build_test_list(world["corpus"], num_items=2), tmp_path / "test.jsonl")
    # a broken checkpoint in one run: reported and skipped
    broken = runs["acoustic"] / "exports" / "step_00000009"
    broken.mkdir(exist_ok=True)
    (broken / "config.json").write_text("{not json")
    out = tmp_path / "conv"
    argv = ["eval", "convergence", "--run", f"semantic={runs['semantic']}", "--run", f"acoustic={runs['acoustic']}",
            "--test", str(lst), "--out", str(out), "--synth", "vae-recon", "--asr", str(world["ctc"]),
            "--sim", "resemblyzer", "--mos", "dnsmos"]
    assert main(argv) == 3  # done, the broken checkpoint skipped: named on stderr
    assert "svae-tts: skipped acoustic step 9: " in capsys.readouterr().err
    for f in ("results.csv", "results.json", "report.md", "convergence.png", "steps_to_threshold.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert (out / "convergence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "seeds.md").exists()  # one run per arm: no comparison over seeds
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["run"], int(r["step"])) for r in rows] == [(n, s) for n in ("semantic", "acoustic") for s in (0, 1, 2)]
    for r in rows:
        assert r["wer"] != "" and r["sim"] != "" and r["mos_ovrl"] != ""
    res = json.loads((out / "results.json").read_text())
    assert res["scored_now"] == 6 and res["reused_from_cache"] == 0
    assert [(f["run"], f["step"]) for f in res["failures"]] == [("acoustic", 9)]
    assert "step 9" in (out / "report.md").read_text()
    # a run's checkpoints differ (training changed the weights), and so do the two runs (other seeds)
    sims = {(r["run"], int(r["step"])): float(r["sim"]) for r in rows}
    assert sims[("semantic", 0)] != sims[("semantic", 1)] and sims[("semantic", 0)] != sims[("acoustic", 0)]
    assert len(list((out / "audio" / "semantic" / "step_00000001").glob("*.wav"))) == 2
    # the two runs are compared item by item at their last common step, on every measure scored
    paired = {t["metric"]: t for t in res["paired"]}
    assert set(paired) == {"wer", "cer", "sim", "mos_ovrl"}
    for t in paired.values():
        assert (t["a"], t["b"], t["step"], t["n"]) == ("semantic", "acoustic", 2, 2)
    assert abs(paired["sim"]["diff"] - (sims[("semantic", 2)] - sims[("acoustic", 2)])) < 1e-6
    report = (out / "report.md").read_text()
    assert "## Paired tests between runs" in report and "### semantic vs acoustic (these two models, not their arms)" in report
    assert res["primary"] == "cer" and res["paired"][0]["metric"] == "cer"  # no lp_gain scored: CER, first
    want = holm([paired[m]["p"] for m in ("cer", "wer", "sim", "mos_ovrl")])
    assert [paired[m]["holm_p"] for m in ("cer", "wer", "sim", "mos_ovrl")] == pytest.approx(want)
    # every figure traces to per-item rows: one per run, step and item, with transcript and scores
    items_csv = list(csv.DictReader((out / "items.csv").open()))
    assert len(items_csv) == 6 * 2 and {"run", "step", "id", "hyp", "ref", "cer", "sim", "mos_ovrl"} <= set(items_csv[0])
    last_sem = [r for r in items_csv if (r["run"], r["step"]) == ("semantic", "2")]
    assert sum(float(r["sim"]) for r in last_sem) / 2 == pytest.approx(sims[("semantic", 2)], abs=1e-6)
    # the cached per-item rows are what the paired tests were computed from
    from eval.convergence import cache_path, paired_comparisons

    utts = {(r["run"], r["step"]): json.loads(cache_path(out, r["run"], r["step"]).read_text())["utterances"]
            for r in res["rows"]}
    assert sorted(utts) == [(n, s) for n in ("acoustic", "semantic") for s in (0, 1, 2)]  # not the broken step 9
    assert all(len(v) == 2 for v in utts.values())
    assert paired_comparisons(utts, ["semantic", "acoustic"], res["primary"]) == res["paired"]
    # each p is the two-sided sign-flip p of the two items' differences at step 2, worked out here over
    # all four sign patterns (1/2 or 1 with two items), up to the Monte Carlo error of the test's flips
    a, b = ({u["id"]: u for u in utts[(run, 2)]} for run in ("semantic", "acoustic"))
    for metric, t in paired.items():
        key = {"cer": "c_err", "wer": "w_err"}.get(metric, metric)
        exact = _sign_flip_p([a[i][key] - b[i][key] for i in sorted(a)])
        assert exact in (0.5, 1.0) and abs(t["p"] - exact) < 0.05, (metric, t["p"], exact)

    # second invocation: everything from the cache, identical table, also from a cache written
    # before chance levels existed (they are computed once from its transcripts and stored)
    before = (out / "results.csv").read_text()
    assert rows[0]["cer_p"] != ""
    old_cache = out / "cache" / "semantic" / "step_00000000.json"
    entry = json.loads(old_cache.read_text())
    entry["summary"] = {k: v for k, v in entry["summary"].items() if "_chance" not in k and not k.endswith("_p")}
    old_cache.write_text(json.dumps(entry))
    shutil.rmtree(broken)
    assert main(argv) == 0
    res2 = json.loads((out / "results.json").read_text())
    assert res2["reused_from_cache"] == 6 and res2["scored_now"] == 0 and res2["failures"] == []
    assert res2["paired"] == res["paired"]  # rebuilt from the cached per-item rows
    assert (out / "results.csv").read_text() == before
    assert "cer_p" in json.loads(old_cache.read_text())["summary"]

    # a new checkpoint: only it is scored
    from vae import SemanticVAE

    SemanticVAE.from_pretrained(runs["semantic"] / "exports" / "step_00000001").save_pretrained(
        runs["semantic"] / "exports" / "step_00000003")
    assert main(argv) == 0
    res3 = json.loads((out / "results.json").read_text())
    assert res3["reused_from_cache"] == 6 and res3["scored_now"] == 1 and len(res3["rows"]) == 7

    # runs scored one at a time (as the demo's stages do, in parallel) fill the cache and write
    # nothing else; a convergence over all of them afterwards scores nothing again and reads the same
    from eval.convergence import run_convergence, score_checkpoints, vae_recon_synth_factory
    from eval.scoring import Scorer

    items = build_test_list(world["corpus"], num_items=2)
    scorer = Scorer(asr=str(world["ctc"]), sim="resemblyzer", mos=None)
    split = tmp_path / "split"
    for name in ("semantic", "acoustic"):
        scored = score_checkpoints([(name, runs[name])], items, split, scorer, vae_recon_synth_factory(), steps=[0, 2])
        assert scored.reused == 0 and [r["step"] for r in scored.rows] == [0, 2]
    assert sorted(p.name for p in split.iterdir()) == ["audio", "cache"]
    def no_judges_needed(*args, **kwargs):
        raise AssertionError("a judge was loaded although every checkpoint was cached")

    import eval.metrics.asr
    import eval.metrics.speaker

    monkeypatch.setattr(eval.metrics.asr, "get_asr_backend", no_judges_needed)
    monkeypatch.setattr(eval.metrics.speaker, "get_speaker_backend", no_judges_needed)
    together = run_convergence([(n, runs[n]) for n in ("semantic", "acoustic")], items, split,
                               Scorer(asr=str(world["ctc"]), sim="resemblyzer", mos=None),
                               vae_recon_synth_factory(), steps=[0, 2])
    assert together["scored_now"] == 0 and together["reused_from_cache"] == 4
    assert {(r["run"], r["step"]): r["sim"] for r in together["rows"]} == \
        {(r["run"], int(r["step"])): pytest.approx(float(r["sim"]), abs=1e-6) for r in rows if int(r["step"]) in (0, 2)}


def test_convergence_over_seeds_from_the_command(world, runs, tmp_path):
    """Runs named ARM_sK are also compared over their seeds: two 'seeds' per arm here are the same
    model twice, so the spread over seeds is zero and the pooled paired test reads what the test
    of one pair reads (every pair repeated once)."""
    from eval.testlist import build_test_list, write_test_list

    lst = write_test_list(build_test_list(world["corpus"], num_items=2), tmp_path / "test.jsonl")
    out = tmp_path / "conv"
    named = [f"{arm}_s{k}={runs[arm]}" for arm in ("semantic", "acoustic") for k in (0, 1)]
    argv = ["eval", "convergence", *[x for n in named for x in ("--run", n)], "--test", str(lst), "--out", str(out),
            "--synth", "vae-recon", "--asr", str(world["ctc"]), "--sim", "none", "--mos", "none", "--steps", "0,2",
            "--cer-threshold", "100", "--no-audio"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    seeds = res["seeds"]
    assert seeds["arms"] == {"semantic": [0, 1], "acoustic": [0, 1]} and seeds["threshold"] == 100
    last = seeds["curves"]["semantic"][-1]
    assert last["step"] == 2 and last["n"] == 2 and last["sd"] == 0 and last["min"] == last["max"]
    assert seeds["steps_to_threshold"]["acoustic"]["per_seed"] == {"0": 0, "1": 0}  # every CER <= 100 (JSON keys)
    pooled = {t["metric"]: t for t in seeds["paired"]}
    one_pair = {t["metric"]: t for t in res["paired"] if (t["a"], t["b"]) == ("semantic_s0", "acoustic_s0")}
    assert (pooled["cer"]["seeds"], pooled["cer"]["n"], pooled["cer"]["step"]) == (2, 4, 2)
    assert pooled["cer"]["diff"] == pytest.approx(one_pair["cer"]["diff"])
    seeds_md = (out / "seeds.md").read_text()
    assert "## Item-level, pooled over seed pairs (does not test the arm: runs are the unit)" in seeds_md
    # the same model twice an arm: no spread between runs, Welch's t undefined, and 2 + 2 runs name no arm
    between = {t["metric"]: t for t in seeds["between_runs"]}
    assert seeds["primary"] == "cer" and between["cer"]["primary"] and between["cer"]["welch_p"] is None
    assert "Primary endpoint CER: no difference shown between semantic and acoustic on cer" in seeds_md
    assert "fewer than 3 runs an arm" in seeds_md
    assert (out / "convergence_seeds.png").read_bytes()[:4] == b"\x89PNG"
    assert "seeds.md" in (out / "report.md").read_text()
    # --primary names the endpoint instead (the cache is reused: nothing is scored again)
    assert main([*argv, "--primary", "wer"]) == 0
    seeds = json.loads((out / "results.json").read_text())["seeds"]
    assert seeds["primary"] == "wer" and seeds["between_runs"][0]["metric"] == "wer"
    assert "Primary endpoint WER:" in (out / "seeds.md").read_text()


def test_convergence_missing_judge_fails_before_synthesis(runs, world, tmp_path):
    from eval.convergence import run_convergence
    from eval.scoring import Scorer
    from eval.testlist import build_test_list

    calls = []
    with pytest.raises(EvalError, match=r"ASR.*no such directory.*whisper"):
        run_convergence([("semantic", runs["semantic"])], build_test_list(world["corpus"], num_items=1), tmp_path / "c",
                        scorer=Scorer(asr=str(tmp_path / "no_judge"), sim=None, mos=None),
                        synth_factory=lambda d: calls.append(d))
    assert calls == []
    (tmp_path / "not_a_run").mkdir()  # beside the output: an output inside an input is refused first
    with pytest.raises(EvalError, match="not a TTS run dir"):
        run_convergence([("x", tmp_path / "not_a_run")], build_test_list(world["corpus"], num_items=1), tmp_path / "c",
                        scorer=Scorer(asr=None, sim=None, mos=None))


def test_convergence_user_errors_and_a_checkpoint_where_every_item_fails(tmp_path):
    from eval.convergence import run_convergence
    from eval.testlist import TestItem

    items = [TestItem(id="a", prompt_audio=str(tmp_path / "p.wav"), prompt_text="hi", text="hello")]
    no_judges = Scorer(asr=None, sim=None, mos=None)
    with pytest.raises(EvalError, match="no runs given"):
        run_convergence([], items, tmp_path / "c", scorer=no_judges)
    with pytest.raises(EvalError, match="the test list is empty"):
        run_convergence([("r", tmp_path)], [], tmp_path / "c", scorer=no_judges)

    (tmp_path / "run" / "exports" / "step_00000001").mkdir(parents=True)
    (tmp_path / "run" / "exports" / "step_00000001" / "config.json").write_text("{}")

    def synth(item, seed):
        raise RuntimeError("model diverged")

    # nothing scored: one line naming the checkpoint and why, and no folder holding only a report
    with pytest.raises(NothingDone, match=r"eval convergence: nothing done, all 1 item\(s\) failed \(r step 1: "
                                          r"every item failed \(first: RuntimeError: model diverged\)"):
        run_convergence([("r", tmp_path / "run")], items, tmp_path / "c", scorer=no_judges,
                        synth_factory=lambda d: synth, keep_audio=False)
    assert not (tmp_path / "c").exists()


def test_utmos_unavailable_names_what_is_needed(tmp_path):
    from eval.metrics.quality import get_quality_backend

    with pytest.raises(EvalError, match=r"utmos.*unavailable.*SpeechMOS.*dnsmos"):
        get_quality_backend(f"utmos:{tmp_path / 'no_clone'}")


def test_mel_vocos_reference_in_recon_and_probe(world, tmp_path):
    from eval.codecs import load_codec
    from eval.probe import ProbeConfig, run_probe
    from eval.recon import run_recon
    from eval.scoring import Scorer
    from tts_recipes.feature_space import write_random_vocos

    vocos = write_random_vocos(tmp_path / "vocos", dim=16, intermediate_dim=32, num_layers=1)
    codec = load_codec(f"mel:{vocos}")
    assert codec.sample_rate == 24_000 and codec.dim == 100 and codec.kind == "mel"
    s = run_recon([("mel", f"mel:{vocos}")], world["corpus"], tmp_path / "recon", Scorer(asr=None, sim=None, mos=None),
                  limit=1, score_original=False)
    assert s["models"]["mel"]["kind"] == "mel" and s["models"]["mel"]["n"] == 1 and "pesq" in s["models"]["mel"]
    p = run_probe([("mel", f"mel:{vocos}")], world["corpus"], tmp_path / "probe", ProbeConfig(steps=3))
    assert p["models"]["mel"]["frame_rate"] == pytest.approx(24_000 / 256)
    with pytest.raises(EvalError, match="mel\\+Vocos reference needs a Vocos model dir"):
        load_codec(f"mel:{tmp_path / 'missing'}")


# ---- user errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, match", [
    ("empty.jsonl", "\n", "the test list is empty"),
    ("bad.jsonl", "{not json}\n", r"bad.jsonl:1: invalid JSON"),
    ("array.jsonl", "[1, 2]\n", r"array.jsonl:1: expected a JSON object on each line, found an array"),
    ("missing.jsonl", '{"id": "a", "text": "x"}\n', r"missing.jsonl:1: not a test-list record \(missing prompt_audio, prompt_text\)"),
    ("dup.jsonl", '{"id": "a", "prompt_audio": "p", "prompt_text": "t", "text": "x"}\n' * 2, "duplicate item ids"),
    ("ids.lst", "p\t1\tt\tx\t2\ty\n", r"ids.lst:1: ids must look like SPEAKER-CHAPTER-UTT"),
    (None, None, "no such test list"),
])
def test_bad_test_lists_name_the_file_and_problem(tmp_path, name, content, match):
    from eval.testlist import load_test_list

    path = tmp_path / (name or "missing.jsonl")
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvalError, match=match):
        load_test_list(path)


def test_bad_names_sources_and_inputs(world, tmp_path):
    from eval.codecs import load_codec, parse_named
    from eval.convergence import vae_recon_synth_factory
    from eval.probe import ProbeConfig, run_probe
    from eval.testlist import TestItem
    from eval.tts import ground_truth_synth, run_tts_eval

    assert parse_named(["a=x", "./runs/b"]) == [("a", "x"), ("b", "./runs/b")]
    with pytest.raises(EvalError, match="duplicate names"):
        parse_named(["x=1", "x=2"])
    with pytest.raises(EvalError, match="expected NAME=PATH"):
        parse_named(["=dir"])
    item = TestItem(id="u1", prompt_audio="p.wav", prompt_text="hi", text="there")
    with pytest.raises(EvalError, match="exactly one of"):
        run_tts_eval([item], tmp_path / "o", generated_dir=tmp_path, ground_truth=True)
    with pytest.raises(EvalError, match="u1: no target audio"):
        ground_truth_synth(item, 0)
    with pytest.raises(EvalError, match="no such folder of generated audio"):
        run_tts_eval([item], tmp_path / "o", generated_dir=tmp_path / "nope", scorer=Scorer(asr=None, sim=None, mos=None))
    vae = tiny_vae_dir(tmp_path / "vae")
    with pytest.raises(EvalError, match="u1: no target audio to reconstruct"):
        vae_recon_synth_factory()(vae)(item, 0)
    (tmp_path / "not_vae").mkdir()
    with pytest.raises(EvalError, match="could not be loaded"):
        load_codec(tmp_path / "not_vae")
    with pytest.raises(EvalError, match="unit='phoneme' needs a 'phonemes' column"):
        run_probe([("v", str(vae))], world["corpus"], tmp_path / "p", ProbeConfig(unit="phoneme"))
