"""The output and exit-code contract of every command that writes, command by command, through the real CLI.

Output: a folder is written only when it is missing, empty or an earlier output of the same command
(its manifest, ``.svae-tts-output.json``, says so); anything else is refused before any work, in one
line, exit 2. ``--overwrite`` replaces only files the command wrote; a user's file of an output's name
is never replaced nor counted as already there. Output names and extensions are checked before any work.

Exit codes: 0 done; 2 a user error before any work, or every item bad (then no output folder is
left); 3 done with some items skipped, each named on stderr and in the command's report; 1 a bug.

"Before any work" is shown without mocks: the model named is a path that does not exist, so a
command that loaded it first would fail naming the model, not the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svae_tts.cli import main
from svae_tts.errors import EXIT_OK, EXIT_SKIPPED, EXIT_USER_ERROR
from svae_tts.fileio import MANIFEST_FILE
from tests.tts_fixtures import build_assets, one_torch_thread, tiny_cfg  # noqa: F401


def _tone(path: Path, seconds: float, f0: float) -> Path:
    t = np.arange(int(seconds * 16000)) / 16000
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), 16000)
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _corrupt(path: str | Path) -> None:
    Path(path).write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """A tiny VAE, a TTS model trained one step on its latents, audio and latent folders with good and
    bad files, batch lists, test lists and corpora whose audio is partly or wholly damaged."""
    from eval.testlist import build_test_list, write_test_list
    from tests.shared_fixtures import make_corpus
    from tts_recipes.train import train

    root = tmp_path_factory.mktemp("contracts")
    a = build_assets(root)
    train(tiny_cfg(root / "run", a["latents"], "max_steps=1", "save_every=0"))
    w = {"root": root, "vae": a["vae_dir"], "tts": root / "run" / "exports" / "step_00000001",
         "ref": a["ref_wav"], "ref_text": a["ref_text"], "corpus": a["corpus"], "missing": root / "no_such_model"}
    w["wavs"] = _tone(root / "wavs" / "a.wav", 0.5, 220).parent
    _tone(w["wavs"] / "b.wav", 0.4, 330)
    w["broken"] = root / "bad" / "broken.wav"
    w["broken"].parent.mkdir()
    _corrupt(w["broken"])
    w["notes"] = root / "bad" / "notes.txt"
    w["notes"].write_text("not audio\n")
    w["lat"] = root / "lat"
    assert main(["vae", "encode", str(w["wavs"]), "-o", str(w["lat"]), "-m", str(w["vae"]), "--no-progress"]) == 0
    w["junk"] = root / "badlat" / "junk.safetensors"
    w["junk"].parent.mkdir()
    w["junk"].write_bytes(b"\x00" * 20)
    gone = root / "gone.wav"
    for name, lines in (("good", ["one\tthe cat"]), ("two", ["one\tthe cat", "two\ta dog"]),
                        ("mixed", ["one\tthe cat", f"two\t{gone}\tx\ta dog"]),
                        ("bad", [f"one\t{gone}\tx\tthe cat", f"two\t{w['notes']}\tx\ta dog"])):
        (root / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    items = build_test_list(a["corpus"], num_items=2, split="train", allow_seen_speakers=True)
    w["test_list"] = write_test_list(items, root / "test.jsonl")
    for kind, keep in (("good", items), ("mixed", items[:1]), ("bad", [])):  # generated audio for `eval tts`
        gen = root / f"gen_{kind}"
        gen.mkdir()
        for it in keep:
            sf.write(gen / f"{it.id}.wav", sf.read(it.target_audio)[0], 16000)
    for kind, n_bad in (("mixed", 1), ("bad", 2)):  # a corpus whose test audio is partly or wholly damaged
        corpus, dsd = make_corpus(root / f"corpus_{kind}", n_train=1, n_test=2)
        for row in list(dsd["test"])[:n_bad]:
            _corrupt(row["audio"])
        w[f"corpus_{kind}"] = corpus
    return w


def _run(argv, capsys) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error_line(err: str) -> str:
    """The one ``svae-tts: error:`` line (item warnings logged before it are not errors)."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


# -- the commands, as argv for an output ``out``, a model (possibly missing) and a kind of input --------
def _judges_off():
    return ["--asr", "none", "--sim", "none", "--mos", "none"]


def _argv(w, name: str, out: Path, kind: str = "good", model: Path | None = None) -> list:
    vae = model or w["vae"]
    if name in ("vae encode", "vae reconstruct"):
        ins = {"good": [w["wavs"]], "one": [w["wavs"] / "a.wav"], "mixed": [w["wavs"], w["broken"]],
               "bad": [w["notes"], w["broken"]]}[kind]
        return ["vae", name.split()[1], *ins, "-o", out, "-m", vae, "--no-progress"]
    if name == "vae decode":
        ins = {"good": [w["lat"]], "one": [w["lat"] / "a.safetensors"], "mixed": [w["lat"], w["junk"]],
               "bad": [w["junk"]]}[kind]
        return ["vae", "decode", *ins, "-o", out, "-m", vae, "--no-progress"]
    if name == "synthesize --batch":
        lst = w["root"] / f"{ {'one': 'good', 'good': 'two'}.get(kind, kind)}.tsv"
        return ["synthesize", "--model", model or w["tts"], "--batch", lst, "-o", out, "--ref-audio", w["ref"],
                "--ref-text", w["ref_text"], "--nfe", "2", "--seed", "0", "--duration", "0.5"]
    if name == "eval tts":
        source = ["--model", model] if model else ["--generated", w["root"] / f"gen_{kind}"]
        return ["eval", "tts", *source, "--test", w["test_list"], "--out", out, *_judges_off()]
    if name == "eval recon":
        corpus = w["corpus"] if kind in ("good", "one") else w[f"corpus_{kind}"]
        return ["eval", "recon", "-m", vae, "--corpus", corpus, "--out", out, "--no-original", *_judges_off()]
    if name == "eval probe":
        return ["eval", "probe", "-m", vae, "--corpus", w["corpus"], "--out", out, "--steps", "1",
                "--allow-seen-speakers"]
    if name == "eval text-reliance":
        return ["eval", "text-reliance", "--model", model or w["tts"], "--data", w["lat"], "--out", out]
    if name == "eval convergence":
        return ["eval", "convergence", "--run", f"a={w['root'] / 'run'}", "--test", w["test_list"], "--out", out,
                *_judges_off()]
    if name == "data latents":
        return ["data", "latents", "--corpus", w["corpus"], "-m", vae, "--out", out]
    if name == "data espeak":
        return ["data", "espeak", "--out", out, "--hours", "0.001", "--voices", "1"]
    if name == "demo":
        return ["demo", "--out", out, "--preset", "fast"]
    raise KeyError(name)


# what each command's report is, and how it lists a skipped item
REPORTS = {
    "vae encode": ("encode_report.json", lambda r: [f["path"] for f in r["failed"]]),
    "vae decode": ("decode_report.json", lambda r: [f["path"] for f in r["failed"]]),
    "vae reconstruct": ("reconstruct_report.json", lambda r: [f["path"] for f in r["failed"]]),
    "synthesize --batch": ("skipped.tsv", None),
    "eval tts": ("summary.json", lambda r: [f["id"] for f in r["failures"]]),
    "eval recon": ("summary.json", lambda r: [s["path"] for s in r["skipped"]]),
}
ITEM_JOBS = list(REPORTS)
WITH_OVERWRITE = ["vae encode", "vae decode", "vae reconstruct", "synthesize --batch", "eval tts", "eval recon",
                  "eval probe", "eval text-reliance", "data latents", "data espeak"]
FOLDER_COMMANDS = WITH_OVERWRITE + ["eval convergence", "demo"]
# an output name each item job writes, for the user's file of the same name
OUTPUT_NAME = {"vae encode": "a.safetensors", "vae decode": "a.wav", "vae reconstruct": "a.wav",
               "synthesize --batch": "one.wav", "eval tts": "summary.json", "eval recon": "summary.json"}


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_a_folder_of_someone_elses_files_is_refused_before_any_work(w, tmp_path, capsys, name):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    before = _snapshot(out)
    for extra in ([], ["--overwrite"]) if name in WITH_OVERWRITE else ([],):
        rc, _, err = _run(_argv(w, name, out, model=w["missing"]) + extra, capsys)
        line = _error_line(err)
        assert rc == EXIT_USER_ERROR and str(out) in line, (name, err)
        assert "no_such_model" not in line  # refused before the model was looked for
        assert _snapshot(out) == before and not (out / MANIFEST_FILE).exists(), name


@pytest.mark.parametrize("name", ITEM_JOBS)
def test_a_user_file_by_an_output_name_is_never_replaced_nor_counted(w, tmp_path, capsys, name):
    """The user's case: the folder holds only an unrelated file of an output's name."""
    out = tmp_path / "out"
    out.mkdir()
    mine = out / OUTPUT_NAME[name]
    mine.write_bytes(b"the user's own file")
    for extra in ([], ["--overwrite"]):
        rc, stdout, err = _run(_argv(w, name, out, model=w["missing"] if name.startswith("vae") else None) + extra,
                               capsys)
        line = _error_line(err)
        assert rc == EXIT_USER_ERROR and str(out) in line and "did not write" in line, (name, err)
        assert "already present" not in stdout
    assert mine.read_bytes() == b"the user's own file" and sorted(p.name for p in out.iterdir()) == [mine.name]


@pytest.mark.parametrize("name", ["vae encode", "vae decode", "vae reconstruct", "synthesize --batch"])
def test_in_an_earlier_output_overwrite_replaces_only_the_commands_own_files(w, tmp_path, capsys, name):
    out = tmp_path / "out"
    assert _run(_argv(w, name, out, "one"), capsys)[0] == EXIT_OK  # writes a.* / one.wav
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    own = next(p for p in out.iterdir() if p.suffix in (".wav", ".safetensors"))
    assert manifest["files"][own.name] == name.replace(" --batch", "")
    # the user drops a file named like the output of an input not yet done: refused, before any work
    user = out / ({"vae encode": "b.safetensors", "vae decode": "b.wav", "vae reconstruct": "b.wav",
                   "synthesize --batch": "two.wav"}[name])
    user.write_bytes(b"the user's own file")
    for extra in ([], ["--overwrite"]):
        rc, _, err = _run(_argv(w, name, out, "good", model=w["missing"]) + extra, capsys)
        assert rc == EXIT_USER_ERROR and f"{user}: exists and was not written by" in _error_line(err), err
    assert user.read_bytes() == b"the user's own file"
    user.unlink()
    # its own file: kept without --overwrite (counted as already there), replaced with it
    own.write_bytes(b"stale")  # (a file the command wrote: what it holds now does not matter)
    rc, stdout, _ = _run(_argv(w, name, out, "one"), capsys)
    assert rc == EXIT_OK and own.read_bytes() == b"stale"
    assert ("1 already present" in stdout) if name.startswith("vae") else ("kept 1" in stdout)
    assert _run(_argv(w, name, out, "one") + ["--overwrite"], capsys)[0] == EXIT_OK
    assert own.read_bytes() != b"stale"


@pytest.mark.parametrize("name", ITEM_JOBS)
def test_some_bad_items_are_exit_3_and_listed_on_stderr_and_in_the_report(w, tmp_path, capsys, name):
    out = tmp_path / "out"
    rc, _, err = _run(_argv(w, name, out, "mixed"), capsys)
    assert rc == EXIT_SKIPPED, err
    skipped = [line for line in err.splitlines() if line.startswith("svae-tts: skipped ")]
    assert skipped and all(": " in line[len("svae-tts: skipped "):] for line in skipped)  # each with its reason
    report, listed = REPORTS[name]
    text = (out / report).read_text()
    names = [line.split("\t")[0] for line in text.splitlines()] if listed is None else listed(json.loads(text))
    assert names and all(any(Path(str(n)).name in line for line in skipped) for n in names), (names, skipped)
    assert report in json.loads((out / MANIFEST_FILE).read_text())["files"]


@pytest.mark.parametrize("name", ITEM_JOBS)
def test_every_item_bad_is_exit_2_in_one_line_and_leaves_no_folder(w, tmp_path, capsys, name):
    out = tmp_path / "new" / "out"
    rc, _, err = _run(_argv(w, name, out, "bad"), capsys)
    line = _error_line(err)
    assert rc == EXIT_USER_ERROR and "nothing done" in line and "failed" in line, err
    assert not (tmp_path / "new").exists()  # no folder holding only a report, nor its parents


def test_every_item_bad_in_an_empty_folder_leaves_it_empty(w, tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    rc, _, err = _run(_argv(w, "vae reconstruct", out, "bad"), capsys)
    assert rc == EXIT_USER_ERROR and list(out.iterdir()) == []  # the user's folder stays, nothing in it


@pytest.mark.parametrize("name", ["e3.mp3", "e3", "e3.WAV.txt"])
def test_a_bad_output_extension_is_refused_at_once(w, tmp_path, capsys, name):
    out = tmp_path / name
    rc, _, err = _run(["synthesize", "--model", w["missing"], "--ref-audio", w["ref"], "--ref-text", "a b",
                       "--text", "c d", "-o", out], capsys)
    line = _error_line(err)
    assert rc == EXIT_USER_ERROR and str(out) in line and "cannot write audio" in line and ".wav" in line
    assert "no_such_model" not in line and not out.exists() and list(tmp_path.iterdir()) == []


def test_a_reference_that_is_not_audio_is_refused_before_the_model_loads(w, tmp_path, capsys):
    rc, _, err = _run(["synthesize", "--model", w["missing"], "--ref-audio", w["notes"], "--ref-text", "a b",
                       "--text", "c d", "-o", tmp_path / "o.wav"], capsys)
    assert rc == EXIT_USER_ERROR and str(w["notes"]) in _error_line(err) and "no_such_model" not in err


def test_synthesize_overwrite_replaces_its_own_file_never_the_users(w, tmp_path, capsys):
    argv = ["synthesize", "--model", w["tts"], "--ref-audio", w["ref"], "--ref-text", w["ref_text"], "--text",
            "the cat", "--nfe", "2", "--seed", "0", "--duration", "0.5", "-o"]
    user = tmp_path / "user.wav"
    _tone(user, 0.2, 440)
    before = user.read_bytes()
    for extra in ([], ["--overwrite"]):  # never "pass --overwrite": it would not replace the user's file
        rc, _, err = _run(argv + [user, *extra], capsys)
        assert rc == EXIT_USER_ERROR and "was not written by `svae-tts synthesize`" in _error_line(err)
    assert user.read_bytes() == before
    own = tmp_path / "own.wav"
    assert _run(argv + [own], capsys)[0] == EXIT_OK
    rc, _, err = _run(argv + [own], capsys)  # without --overwrite: refused, as before
    assert rc == EXIT_USER_ERROR and "already exists" in _error_line(err)
    assert _run(argv + [own, "--overwrite", "--seed", "1"], capsys)[0] == EXIT_OK


def test_testlist_overwrite_replaces_its_own_file_never_the_users(w, tmp_path, capsys):
    argv = ["eval", "testlist", "--corpus", w["corpus"], "--split", "train", "--allow-seen-speakers", "--out"]
    user = tmp_path / "list.jsonl"
    user.write_text('{"mine": true}\n')
    rc, _, err = _run(argv + [user, "--overwrite"], capsys)
    assert rc == EXIT_USER_ERROR and "was not written by `svae-tts eval testlist`" in _error_line(err)
    assert user.read_text() == '{"mine": true}\n'
    own = tmp_path / "own.jsonl"
    assert _run(argv + [own], capsys)[0] == EXIT_OK
    assert _run(argv + [own, "--overwrite", "--num", "1"], capsys)[0] == EXIT_OK
    assert len(own.read_text().splitlines()) == 1


def test_a_refused_demo_leaves_nothing_behind(w, tmp_path, capsys):
    # a folder holding a `corpus` of the user's once passed for a demo run; it is refused, untouched
    theirs = tmp_path / "theirs"
    (theirs / "corpus").mkdir(parents=True)
    (theirs / "corpus" / "mine.txt").write_text("x")
    rc, _, err = _run(["demo", "--out", theirs, "--preset", "fast"], capsys)
    assert rc == EXIT_USER_ERROR and str(theirs) in _error_line(err)
    assert sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*")) == ["corpus", "corpus/mine.txt"]
    # an earlier run of another budget: refused with no logs/ and no manifest added
    other = tmp_path / "other"
    other.mkdir()
    (other / "stages.json").write_text(json.dumps({"budget": "proof", "config": {"x": 1}, "stages": {}}))
    before = _snapshot(other)
    rc, _, err = _run(["demo", "--out", other, "--preset", "fast", "--jobs", "2"], capsys)
    assert rc == EXIT_USER_ERROR and "another budget" in _error_line(err)
    assert _snapshot(other) == before and sorted(p.name for p in other.iterdir()) == ["stages.json"]


def test_the_seed_error_states_the_real_limit(w, tmp_path, capsys):
    rc, _, err = _run(["vae", "reconstruct", w["wavs"], "-o", tmp_path / "o", "-m", w["vae"], "--sample",
                       "--seed", str(2**70)], capsys)
    line = _error_line(err)
    assert rc == EXIT_USER_ERROR and "too large" in line and "<= 4294967295" in line and "64 bits" not in line


def test_an_export_replaces_a_model_dir_never_a_folder_of_something_else(w, tmp_path):
    from svae_tts.errors import OutputExistsError
    from tts_recipes.model import TTSModel
    from vae import SemanticVAE

    vae, tts = SemanticVAE.from_pretrained(w["vae"]), TTSModel.from_pretrained(w["tts"])
    for i, model in enumerate((vae, tts)):
        theirs = tmp_path / f"theirs{i}"
        theirs.mkdir()
        (theirs / "thesis.tex").write_text("years of work")
        with pytest.raises(OutputExistsError, match=f"{theirs}: exists and is not an earlier model dir"):
            model.save_pretrained(theirs, overwrite=True)
        assert [p.name for p in theirs.iterdir()] == ["thesis.tex"]
        own = model.save_pretrained(tmp_path / f"own{i}")
        assert model.save_pretrained(own, overwrite=True) == own and (own / "config.json").is_file()


@pytest.mark.parametrize("step", ["latents", "features"])
def test_an_extraction_where_every_item_fails_is_exit_2_and_leaves_no_folder(w, tmp_path, capsys, step):
    from tests.shared_fixtures import make_corpus, save_tiny_wavlm

    corpus, dsd = make_corpus(tmp_path / "c", n_train=1, n_test=1)
    for split in dsd:
        for row in dsd[split]:
            _corrupt(row["audio"])
    out = tmp_path / "new" / "out"
    model = ["-m", w["vae"]] if step == "latents" else ["-m", save_tiny_wavlm(tmp_path / "wavlm")]
    rc, _, err = _run(["data", step, "--corpus", corpus, *model, "--out", out], capsys)
    line = _error_line(err)
    assert rc == EXIT_USER_ERROR and f"data {step}: nothing done, all 2 item(s) failed" in line, err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", ["t.lst", "t.txt", "t"])
def test_a_test_list_name_that_would_not_read_back_is_refused(w, tmp_path, capsys, name):
    rc, _, err = _run(["eval", "testlist", "--corpus", w["corpus"], "--split", "train", "--allow-seen-speakers",
                       "--out", tmp_path / name], capsys)
    assert rc == EXIT_USER_ERROR and f"{tmp_path / name}: a test list is written as JSON lines" in _error_line(err)
    assert list(tmp_path.iterdir()) == []
