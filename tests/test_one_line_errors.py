"""Hostile and careless command lines: each is refused before any work, with exit status 2 and one
line on stderr that names the offending option, key or file (issue 14, classes 3 and 4).

Every row runs the real entry point in-process (``svae_tts.cli.main``, or a trainer's ``main``)
on small files made here; the inputs are otherwise valid, so the only thing wrong is the row's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
HUGE_SEED = str(2**64)  # beyond 64 bits as a signed integer, and far beyond the 32-bit seeds the error names


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Small valid inputs and one broken variant of each kind of user text file."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    wavs = d / "wavs"
    wavs.mkdir()
    for name in ("a", "b", "c"):
        sf.write(wavs / f"{name}.wav", (0.1 * rng.standard_normal(SR // 2)).astype("float32"), SR)
    (d / "good.csv").write_text("path,text,speaker\nwavs/a.wav,one two,s1\nwavs/b.wav,three four,s2\n")
    (d / "latin1.csv").write_bytes(b"path,text,speaker\nwavs/a.wav,caf\xe9 au lait,s1\n")
    (d / "latin1.yaml").write_bytes(b"steps: 10\nname: caf\xe9\n")
    (d / "latin1.tsv").write_bytes(b"one\tcaf\xe9 au lait\n")
    (d / "latin1.jsonl").write_bytes(b'{"id": "x", "prompt_audio": "a.wav", "prompt_text": "caf\xe9", "text": "t"}\n')
    (d / "latin1.lst").write_bytes(b"1-2-3\t1.0\tcaf\xe9\t1-2-4\t1.0\tt\n")
    item = {"id": "x", "prompt_audio": str(wavs / "a.wav"), "prompt_text": "one", "text": "two"}
    (d / "array.jsonl").write_text(json.dumps(item) + "\n" + json.dumps([1, 2]) + "\n")
    (d / "nan_duration.jsonl").write_text(json.dumps({**item, "target_duration": float("nan")}) + "\n")
    listmodel = d / "list_model"
    listmodel.mkdir()
    (listmodel / "config.json").write_text("[1, 2, 3]\n")
    (listmodel / "model.safetensors").write_bytes(b"not used")
    for name, text in (("demo_list", "[1, 2]\n"),  # an earlier demo run whose stage log is damaged
                       ("demo_cut", '{\n  "budget": "fast",\n  "config": {"corpus_hours": 0.0')):
        (d / name).mkdir()
        (d / name / "stages.json").write_text(text)
    release = d / "release"
    release.mkdir()
    (release / "metainfo.json").write_text(json.dumps({
        "DAC": {"sample_rate": 16000, "encoder_dim": "sixty-four", "encoder_rates": [2, 4, 5, 5], "vae_dim": 16},
        "Decoder": {"upsample_rates": [5, 5, 4, 2]}}))
    return {"dir": d, "wavs": wavs, **{p.name: p for p in d.iterdir()}}


def _rows():
    """(row id, argv builder, regexes the one line must match). argv[0] names the entry point."""
    espeak = ["svae-tts", "data", "espeak", "--out", "{out}/corpus", "--hours", "0.002"]  # seconds of audio if run
    csv = ["svae-tts", "data", "build", "csv", "{good.csv}", "--out", "{out}/corpus"]
    synth = ["svae-tts", "synthesize", "--model", "{out}/no_model", "--text", "hi", "--ref-audio", "{wavs}/a.wav",
             "--ref-text", "one", "-o", "{out}/x.wav"]
    tts = ["tts_recipes.train", "--config", "tiny", "run_dir={out}/tts", "data.latent_set={out}/latents"]
    vae = ["vae.train", "--config", str(ROOT / "vae/configs/tiny_acoustic.yaml"), "data.train={wavs}",
           "run_dir={out}/vae", "data.num_workers=0", "progress=false", "max_steps=2"]  # short if it runs
    ctc = ["svae-tts", "data", "train-ctc", "--corpus", "{out}/corpus", "--out", "{out}/ctc"]
    evtts = ["svae-tts", "eval", "tts", "--ground-truth", "--out", "{out}/ev", "--sim", "none", "--mos", "none"]
    return [
        # -- class 3: degenerate results written as success
        ("espeak-sample-rate-1", espeak + ["--sample-rate", "1"], [r"--sample-rate", r"'1'", r">= 8000"]),
        ("espeak-sample-rate-0", espeak + ["--sample-rate", "0"], [r"--sample-rate"]),
        ("espeak-min-words-above-max", espeak + ["--min-words", "10", "--max-words", "2"], [r"min_words \(10\)", r"max_words \(2\)"]),
        ("espeak-test-speakers-all", espeak + ["--voices", "3", "--test-speakers", "3"], [r"test_speakers \+ dev_speakers \(3 \+ 0\)", r"voices \(3\)"]),
        ("vae-train-negative-max-steps", vae + ["max_steps=-5"], [r"max_steps", r"-5", r"> 0"]),
        ("tts-train-zero-steps", tts + ["max_steps=0"], [r"steps", r"> 0"]),
        ("csv-test-size-negative", csv + ["--test-size", "-1"], [r"--test-size"]),
        ("csv-test-size-fractional-count", csv + ["--test-size", "2.5"], [r"--test-size", r"2\.5"]),
        ("csv-min-duration-above-max", csv + ["--min-duration", "5", "--max-duration", "1"], [r"min_duration", r"max_duration"]),
        # -- class 4: tracebacks instead of one line
        ("csv-not-utf8", ["svae-tts", "data", "build", "csv", "{latin1.csv}", "--out", "{out}/corpus"],
         [r"latin1\.csv:2", r"UTF-8"]),
        ("csv-delimiter-two-chars", csv + ["--delimiter", "::"], [r"--delimiter", r"'::'"]),
        ("yaml-not-utf8", ["tts_recipes.train", "--config", "{latin1.yaml}"], [r"latin1\.yaml:2", r"UTF-8"]),
        ("vae-yaml-not-utf8", ["vae.train", "--config", "{latin1.yaml}"], [r"latin1\.yaml:2", r"UTF-8"]),
        ("tsv-not-utf8", ["svae-tts", "synthesize", "--model", "{out}/no_model", "--batch", "{latin1.tsv}",
                          "--ref-audio", "{wavs}/a.wav", "--ref-text", "one", "-o", "{out}/batch"], [r"latin1\.tsv:1", r"UTF-8"]),
        ("jsonl-not-utf8", evtts + ["--test", "{latin1.jsonl}"], [r"latin1\.jsonl:1", r"UTF-8"]),
        ("lst-not-utf8", evtts + ["--test", "{latin1.lst}"], [r"latin1\.lst:1", r"UTF-8"]),
        ("jsonl-line-is-array", evtts + ["--test", "{array.jsonl}"], [r"array\.jsonl:2", r"JSON object", r"array"]),
        ("jsonl-nan-duration", evtts + ["--test", "{nan_duration.jsonl}"], [r"nan_duration\.jsonl:1", r"target_duration"]),
        ("config-json-is-list", ["svae-tts", "vae", "decode", "{wavs}/a.wav", "-o", "{out}/dec", "-m", "{list_model}"],
         [r"config\.json", r"top level must be an object", r"array"]),
        ("demo-stages-json-is-list", ["svae-tts", "demo", "--preset", "fast", "--out", "{demo_list}"],
         [r"demo_list/stages\.json", r"top level must be an object", r"delete it", r"another --out"]),
        ("demo-stages-json-cut-short", ["svae-tts", "demo", "--preset", "fast", "--out", "{demo_cut}"],
         [r"demo_cut/stages\.json:3", r"invalid JSON", r"delete it", r"another --out"]),
        ("metainfo-string-for-number", ["svae-tts", "vae", "import", "{release}", "-o", "{out}/imported"],
         [r"metainfo\.json", r"DAC\.encoder_dim", r"sixty-four"]),
        ("voices-0", espeak + ["--voices", "0"], [r"--voices", r"'0'", r">= 1"]),
        ("voices-negative", espeak + ["--voices", "-3"], [r"--voices"]),
        ("voices-too-many", espeak + ["--voices", "1000000"], [r"voices", r"<= 10000"]),
        ("hours-nan", espeak + ["--hours", "nan"], [r"--hours", r"not a number"]),
        ("hours-inf", espeak + ["--hours", "inf"], [r"--hours", r"infinite"]),
        ("espeak-seed-negative", espeak + ["--seed", "-1"], [r"--seed"]),
        ("speed-nan", synth + ["--speed", "nan"], [r"--speed", r"not a number"]),
        ("speed-zero", synth + ["--speed", "0"], [r"--speed"]),
        ("duration-1e9", synth + ["--duration", "1e9"], [r"--duration", r"<= 300"]),
        ("duration-negative", synth + ["--duration", "-2"], [r"--duration"]),
        ("nfe-zero", synth + ["--nfe", "0"], [r"--nfe"]),
        ("cfg-inf", synth + ["--cfg-strength", "inf"], [r"--cfg-strength"]),
        ("seed-beyond-64-bits", synth + ["--seed", HUGE_SEED], [r"--seed", r"too large", r"<= 4294967295"]),
        ("vae-encode-seed-beyond-64-bits", ["svae-tts", "vae", "encode", "{wavs}", "-o", "{out}/lat", "-m", "preset:tiny",
                                            "--sample", "--seed", HUGE_SEED], [r"--seed"]),
        ("tts-frames-per-batch-0", tts + ["data.frames_per_batch=0"], [r"data\.frames_per_batch", r"> 0"]),
        ("vae-batch-size-0", vae + ["data.batch_size=0"], [r"data\.batch_size", r"> 0"]),
        ("tts-lr-nan", tts + ["optim.lr=nan"], [r"optim\.lr", r"not a number"]),
        ("vae-lr-nan", vae + ["optim.lr=nan"], [r"optim\.lr", r"not a number"]),
        ("vae-lr-inf", vae + ["optim.lr=.inf"], [r"optim\.lr", r"infinite"]),
        ("vae-kl-weight-negative", vae + ["loss.kl_weight=-1"], [r"loss\.kl_weight"]),
        ("vae-seed-beyond-64-bits", vae + [f"seed={HUGE_SEED}"], [r"seed", r"too large", r"<= 4294967295"]),
        ("vae-attn-heads-0", vae + ["vae_overrides=[attn_heads=0]"], [r"attn_heads", r"> 0"]),
        ("tts-heads-0", tts + ["model.heads=0"], [r"model\.heads", r"> 0"]),
        ("tts-seed-beyond-64-bits", tts + [f"seed={HUGE_SEED}"], [r"seed", r"too large", r"<= 4294967295"]),
        ("tts-drop-prob-above-1", tts + ["cfm.audio_drop_prob=1.5"], [r"cfm\.audio_drop_prob", r"<= 1"]),
        ("tts-beta-1", tts + ["optim.betas=[0.9,1.0]"], [r"optim\.betas\[1\]", r"< 1"]),
        ("tts-min-frames-above-max", tts + ["data.min_frames=50", "data.max_frames=10"], [r"data\.min_frames", r"data\.max_frames"]),
        ("ctc-lr-inf", ctc + ["--lr", "inf"], [r"--lr", r"infinite"]),
        ("ctc-max-steps-0", ctc + ["--max-steps", "0"], [r"--max-steps"]),
        ("ctc-override-heads-0", ctc + ["num_heads=0"], [r"num_heads", r"> 0"]),
        ("ctc-override-heads-not-dividing", ctc + ["num_heads=5"], [r"hidden_size 144", r"num_heads 5"]),
        ("features-batch-size-0", ["svae-tts", "data", "features", "--corpus", "{out}/c", "--model", "{out}/t",
                                   "--out", "{out}/f", "--batch-size", "0"], [r"--batch-size"]),
        ("latents-shard-size-0", ["svae-tts", "data", "latents", "--corpus", "{out}/c", "--model", "{out}/v",
                                  "--out", "{out}/l", "--shard-size", "0"], [r"--shard-size"]),
        ("testlist-num-0", ["svae-tts", "eval", "testlist", "--corpus", "{out}/c", "--out", "{out}/t.jsonl", "--num", "0"], [r"--num"]),
        ("testlist-min-duration-nan", ["svae-tts", "eval", "testlist", "--corpus", "{out}/c", "--out", "{out}/t.jsonl",
                                       "--min-duration", "nan"], [r"--min-duration"]),
        ("probe-lr-nan", ["svae-tts", "eval", "probe", "--model", "{out}/v", "--corpus", "{out}/c", "--out", "{out}/p",
                          "--lr", "nan"], [r"--lr"]),
        ("convergence-steps-not-numbers", ["svae-tts", "eval", "convergence", "--run", "a={out}/r", "--test", "{array.jsonl}",
                                           "--out", "{out}/cv", "--steps", "10,ten"], [r"--steps", r"'ten'"]),
        ("eval-speed-zero", evtts + ["--test", "{array.jsonl}", "--speed", "0"], [r"--speed"]),
        ("recon-limit-negative", ["svae-tts", "eval", "recon", "--model", "{out}/v", "--corpus", "{out}/c", "--out", "{out}/r",
                                  "--limit", "-1"], [r"--limit"]),
    ]


ROWS = _rows()


def _run(argv: list[str]) -> int:
    entry, args = argv[0], argv[1:]
    if entry == "svae-tts":
        from svae_tts.cli import main
    elif entry == "vae.train":
        from vae.train import main
    else:
        from tts_recipes.train import main
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("row, argv, patterns", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_exit_2(row, argv, patterns, inputs, tmp_path, capsys):
    names = {"out": str(tmp_path), **{k: str(v) for k, v in inputs.items()}}
    argv = [re.sub(r"\{([\w.]+)\}", lambda m: names[m.group(1)], a) for a in argv]
    rc = _run(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, f"exit {rc}, stderr:\n{err}\nstdout:\n{captured.out[-2000:]}"
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in: {lines[0]}"
    assert not any(tmp_path.iterdir()), f"work started: {sorted(p.name for p in tmp_path.iterdir())}"
