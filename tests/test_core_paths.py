"""Output paths (issue 14, classes 2, 4, 5): no command overwrites, deletes or fills its inputs.

Every command checks its outputs with :func:`svae_tts.fileio.guard_output` before any work: an
output equal to an input, inside an input or holding one, an existing file where a folder is
wanted, and a place that cannot be written are one line, exit status 2, and every input file is
byte-identical afterwards. Also here: every kind of output gets the modes the umask gives, a truncated WAV warns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svae_tts.cli import main as cli_main
from svae_tts.errors import OutputExistsError
from svae_tts.fileio import OutputPathError, atomic_write_text, guard_output

SR = 16000


# -- fixtures: tiny real inputs ----------------------------------------------------------------------
def _tone(seconds: float, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _libritts_tree(root: Path) -> Path:
    for spk in ("101", "202"):
        d = root / spk / "7"
        d.mkdir(parents=True)
        for k in range(2):
            stem = f"{spk}_7_{k:06d}_000000"
            sf.write(d / f"{stem}.wav", _tone(0.4 + 0.1 * k, 150 + int(spk)), SR)
            (d / f"{stem}.normalized.txt").write_text(f"speaker {spk} sentence {k}")
    return root


def _unwritable_parent(base: Path) -> Path:
    """A folder no file can be created in: a read-only one, or /proc for root (who ignores modes)."""
    if os.geteuid() == 0:
        return Path("/proc")
    ro = base / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs of every command, each in its own folder under ``root``; ``scratch`` is outside it."""
    from data_prep.builders import build_csv
    from vae import SemanticVAE

    root = tmp_path_factory.mktemp("inputs")
    wavs = root / "wavs"
    wavs.mkdir()
    lines = ["path,text,speaker"]
    for k in range(4):
        sf.write(wavs / f"u{k}.wav", _tone(0.3 + 0.1 * k, 150 + 40 * k), SR)
        lines.append(f"u{k}.wav,sentence number {k},s{k % 2}")
    (wavs / "list.csv").write_text("\n".join(lines) + "\n")
    corpus = root / "data" / "corpus"
    build_csv(wavs / "list.csv", corpus)
    tree = _libritts_tree(root / "tree")
    vae = SemanticVAE.from_preset("tiny").save_pretrained(root / "models" / "vae")
    official = root / "release" / "semantic_vae"  # only its place matters: the guard runs first
    official.mkdir(parents=True)
    (official / "metainfo.json").write_text("{}")
    run = root / "runs" / "tts_a"
    (run / "exports").mkdir(parents=True)
    test_list = root / "lists" / "test.jsonl"
    test_list.parent.mkdir()
    test_list.write_text(json.dumps({"id": "u1", "prompt_audio": str(wavs / "u0.wav"), "prompt_text": "sentence number 0",
                                     "text": "sentence number 1", "target_audio": str(wavs / "u1.wav")}) + "\n")
    hf = root / "hf" / "saved"
    import datasets

    datasets.Dataset.from_dict({"audio": [str(wavs / "u0.wav")], "text": ["hi"]}).save_to_disk(str(hf))
    scratch = tmp_path_factory.mktemp("scratch")
    (scratch / "a_file.txt").write_text("not a folder")
    (scratch / "a_folder").mkdir()
    (scratch / "a_folder" / "keep.txt").write_text("mine")
    return {"root": root, "wavs": wavs, "corpus": corpus, "tree": tree, "vae": vae, "official": official, "run": run,
            "test_list": test_list, "hf": hf, "scratch": scratch, "unwritable": _unwritable_parent(scratch)}


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` (and the set of folders): any change shows."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def run_cli(argv: list[str], capsys, entry=cli_main) -> tuple[int, str]:
    rc = entry(argv)
    return rc, capsys.readouterr().err


def assert_one_line_refusal(rc: int, err: str, *needles: str) -> None:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ": error: " in lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])


# -- the guard itself ----------------------------------------------------------------------------
def test_guard_output_refuses_every_overlap_and_bad_place(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.wav").write_bytes(b"x")
    link = tmp_path / "link_to_src"
    link.symlink_to(src)
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "corpus_info.json").write_text("{}")
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "thesis.tex").write_text("years of work")
    bad = _unwritable_parent(tmp_path)
    refused = [  # (out, inputs, kwargs, error type, words of the message)
        (src, [src], {"overwrite": True}, OutputPathError, "is also an input"),
        (src / "sub" / "out", [src], {}, OutputPathError, "inside the input"),
        (tmp_path, [src / "a.wav"], {"overwrite": True}, OutputPathError, "holds the input"),
        (link, [src], {"overwrite": True}, OutputPathError, "is also an input"),  # symlinks resolved
        (tmp_path / "o", [link / "a.wav", tmp_path / "o" / ".." / "src"], {}, None, None),  # fine: apart
        (src / "a.wav", [link / "a.wav"], {"kind": "file", "overwrite": True}, OutputPathError, "is also an input"),
        (afile, [], {"overwrite": True}, OutputPathError, "is an existing file; a folder is needed"),
        (src, [], {"kind": "file", "overwrite": True}, OutputPathError, "is an existing folder"),
        (afile / "out", [], {}, OutputPathError, "is a file, not a folder"),
        (bad / "svae_out", [], {}, OutputPathError, "cannot write in"),
        (earlier, [], {}, OutputExistsError, "already exists"),
        (unrelated, [], {"overwrite": True, "markers": ("corpus_info.json",)}, OutputExistsError, "not an earlier"),
        (unrelated, [], {"exists_ok": True, "markers": ("corpus_info.json",)}, OutputExistsError, "not an earlier"),
        ("", [], {}, OutputPathError, "empty output path"),
    ]
    for out, inputs, kw, err, words in refused:
        if err is None:
            assert guard_output(out, inputs, **kw) == Path(out)
            continue
        with pytest.raises(err, match=words):
            guard_output(out, inputs, **kw)
    # what is allowed: a new place, an empty folder, an earlier output with overwrite or to resume
    (tmp_path / "empty").mkdir()
    for out, kw in ((tmp_path / "new" / "deeper", {}), (tmp_path / "empty", {}),
                    (earlier, {"overwrite": True, "markers": ("corpus_info.json",)}),
                    (earlier, {"exists_ok": True, "markers": ("corpus_info.json",)}),
                    ("hub-org/model-id", {})):
        assert guard_output(out, [src, "microsoft/wavlm-large", None], **kw) == Path(out)
    assert not (tmp_path / "new").exists()  # the guard creates nothing


# -- class 2: the two commands that destroyed their inputs ------------------------------------------
def test_latents_into_their_own_corpus_are_refused_and_the_corpus_is_intact(world, capsys):
    corpus = world["corpus"]
    before = snapshot(world["root"])
    for out, extra, words in ((corpus, [], "is also an input"), (corpus, ["--overwrite"], "is also an input"),
                              (corpus / "latents", ["--overwrite"], "inside the input"),
                              (corpus.parent, ["--overwrite"], "holds the input")):
        rc, err = run_cli(["data", "latents", "--corpus", str(corpus), "--model", "preset:tiny", "--out", str(out), *extra],
                          capsys)
        assert_one_line_refusal(rc, err, str(out), words)
        assert snapshot(world["root"]) == before


def test_libritts_build_over_its_source_is_refused_and_no_wav_is_lost(world, capsys):
    tree = world["tree"]
    before = snapshot(world["root"])
    assert sum(1 for k in before if k.endswith(".wav")) >= 4
    for out, extra, words in ((tree, ["--overwrite"], "is also an input"), (tree, [], "is also an input"),
                              (tree / "101", ["--overwrite"], "inside the input"),
                              (tree.parent, ["--overwrite"], "holds the input")):
        rc, err = run_cli(["data", "build", "libritts", str(tree), "--out", str(out), *extra], capsys)
        assert_one_line_refusal(rc, err, str(out), words)
        assert snapshot(world["root"]) == before


# -- every command: the same four refusals, before any work ------------------------------------------
def _commands(w):
    """name -> (argv for an output ``out``, an input it reads, output kind, has --overwrite)."""
    c, wv, m = str(w["corpus"]), str(w["wavs"]), str(w["vae"])
    return {
        "data build libritts": (lambda o: ["data", "build", "libritts", str(w["tree"]), "--out", o], w["tree"], "dir", True),
        "data build csv": (lambda o: ["data", "build", "csv", f"{wv}/list.csv", "--out", o], w["wavs"] / "list.csv",
                           "dir", True),
        "data build hf": (lambda o: ["data", "build", "hf", str(w["hf"]), "--out", o], w["hf"], "dir", True),
        "data espeak": (lambda o: ["data", "espeak", "--out", o, "--hours", "0.001", "--voices", "1"], None, "dir", True),
        "data features": (lambda o: ["data", "features", "--corpus", c, "--model", m, "--out", o], w["corpus"], "dir", False),
        "data train-ctc": (lambda o: ["data", "train-ctc", "--corpus", c, "--out", o, "--max-steps", "1"], w["corpus"], "dir", True),
        "data latents": (lambda o: ["data", "latents", "--corpus", c, "--model", m, "--out", o], w["corpus"], "dir", True),
        "vae import": (lambda o: ["vae", "import", str(w["official"]), "-o", o], w["official"], "dir", True),
        "vae encode": (lambda o: ["vae", "encode", wv, "-o", o, "-m", m, "--no-progress"], w["wavs"], "dir", True),
        "vae decode": (lambda o: ["vae", "decode", wv, "-o", o, "-m", m, "--no-progress"], w["wavs"], "dir", True),
        "vae reconstruct": (lambda o: ["vae", "reconstruct", wv, "-o", o, "-m", m, "--no-progress"], w["wavs"], "dir", True),
        "synthesize": (lambda o: ["synthesize", "--model", m, "--ref-audio", f"{wv}/u0.wav", "--ref-text", "a b",
                                  "--text", "c d", "-o", o], w["vae"], "file", True),
        "synthesize --batch": (lambda o: ["synthesize", "--model", m, "--ref-audio", f"{wv}/u0.wav", "--ref-text", "a b",
                                          "--batch", f"{wv}/list.csv", "-o", o], w["vae"], "dir", True),
        "eval recon": (lambda o: ["eval", "recon", "--model", m, "--corpus", c, "--out", o, "--mos", "none", "--sim", "none"],
                       w["corpus"], "dir", True),
        "eval testlist": (lambda o: ["eval", "testlist", "--corpus", c, "--out", o], w["corpus"], "file", True),
        "eval tts": (lambda o: ["eval", "tts", "--generated", wv, "--test", str(w["test_list"]), "--out", o,
                                "--mos", "none", "--sim", "none"], w["wavs"], "dir", True),
        "eval convergence": (lambda o: ["eval", "convergence", "--run", f"a={w['run']}", "--test", str(w["test_list"]),
                                        "--out", o, "--mos", "none", "--sim", "none"], w["run"], "dir", False),
        "eval probe": (lambda o: ["eval", "probe", "--model", m, "--corpus", c, "--out", o, "--steps", "1"], w["corpus"], "dir", True),
        "demo": (lambda o: ["demo", "--out", o, "--preset", "fast"], None, "dir", False),
        "tts train": (lambda o: ["tts", "train", "--config", "tiny", f"run_dir={o}", f"data.latent_set={c}", "overwrite=true"],
                      w["corpus"], "dir", False),
        "vae.train": (lambda o: ["--config", "vae/configs/tiny_acoustic.yaml", f"run_dir={o}", f"data.train={c}",
                                 "overwrite=true"], w["corpus"], "dir", False),
    }


CASES = ("equal", "inside", "holds", "wrong kind", "unwritable")


@pytest.mark.parametrize("case", CASES)
def test_every_command_refuses_bad_outputs_in_one_line(world, capsys, case, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # vae/configs/... is relative to the repository
    from vae.train import main as vae_train_main

    before = snapshot(world["root"])
    scratch_before = snapshot(world["scratch"])
    tried = 0
    for name, (argv, inp, kind, has_overwrite) in _commands(world).items():
        if (inp is None and case in ("equal", "inside", "holds")) or (case == "inside" and not inp.is_dir()):
            continue  # no input (folder) to overlap
        leaf = "out.wav" if kind == "file" else "out"
        out = {"equal": inp, "inside": (inp / leaf) if inp is not None else None,
               "holds": inp.parent if inp is not None else None,
               "wrong kind": world["scratch"] / ("a_file.txt" if kind == "dir" else "a_folder"),
               "unwritable": world["unwritable"] / "svae_paths_test" / leaf}[case]
        if case == "equal" and kind == "file":
            out = world["wavs"] / "u0.wav"  # the reference audio itself
        args = argv(str(out)) + (["--overwrite"] if has_overwrite else [])
        entry = vae_train_main if name == "vae.train" else cli_main
        rc, err = run_cli(args, capsys, entry)
        words = {"equal": "is also an input", "inside": "inside the input", "holds": "holds the input",
                 "wrong kind": "a folder is needed" if kind == "dir" else "a file path is needed",
                 "unwritable": "cannot write in"}[case]
        try:
            assert_one_line_refusal(rc, err, str(out), words)
        except AssertionError as exc:
            raise AssertionError(f"{name} [{case}]: {exc}") from None
        assert snapshot(world["root"]) == before, name
        assert snapshot(world["scratch"]) == scratch_before, name
        tried += 1
    assert tried >= {"inside": 17, "equal": 18, "holds": 18}.get(case, 21)


# -- class 5 -------------------------------------------------------------------------------------------
def _write_every_kind_of_output(root: Path) -> list[Path]:
    """A model dir, a latent set, a training checkpoint, an atomic text file and a saved wav under
    ``root``: what a colleague is handed when a run folder is copied to a shared place."""
    import torch
    from accelerate import Accelerator

    from svae_tts.audio import save_audio
    from svae_tts.formats.latent_set import write_latent_set
    from svae_tts.run_state import save_checkpoint
    from vae import SemanticVAE

    torch.manual_seed(0)
    model_dir = SemanticVAE.from_preset("tiny").save_pretrained(root / "vae")
    latents = {f"u{i}": torch.randn(5 + i, 4) for i in range(2)}
    rows = [{"id": k, "split": "train", "text": "a b", "speaker": "s", "duration": 0.1} for k in latents]
    write_latent_set(root / "latents", rows, latents.__getitem__, {"latent_dim": 4})
    acc = Accelerator(cpu=True)
    net = torch.nn.Linear(2, 2)
    net, opt = acc.prepare(net, torch.optim.SGD(net.parameters(), lr=0.1))
    checkpoint = save_checkpoint(acc, root / "run", 1, {"optimizer": opt}, keep=1)
    atomic_write_text(root / "f.txt", "x")
    save_audio(root / "a.wav", np.zeros(160, dtype=np.float32), SR)
    return [model_dir, root / "latents", checkpoint, root / "f.txt", root / "a.wav"]


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_get_the_modes_the_umask_gives(tmp_path, mask, mode):
    """Weights were written 0600 (``mkstemp``'s mode) beside a 0644 config.json, so a model dir
    copied to a shared folder was unreadable to colleagues: every file is ``0o666 & ~umask``, every
    folder ``0o777 & ~umask``, as a plain ``open()`` / ``mkdir()`` gives."""
    old = os.umask(mask)
    try:
        outputs = _write_every_kind_of_output(tmp_path / "out")
    finally:
        os.umask(old)
    assert {"model.safetensors", "config.json"} <= {p.name for p in outputs[0].iterdir()}
    assert {"latent_info.json", "latent_stats.safetensors"} <= {p.name for p in outputs[1].iterdir()}
    for out in outputs:
        entries = [out, *out.rglob("*")] if out.is_dir() else [out]
        for p in entries:
            want = 0o777 & ~mask if p.is_dir() else mode
            assert p.stat().st_mode & 0o777 == want, f"{p.relative_to(tmp_path)}: {oct(p.stat().st_mode & 0o777)}"


def test_truncated_wav_is_used_with_one_warning_naming_it(tmp_path, caplog):
    from data_prep.corpus import ValidationLimits, check_item
    from svae_tts.audio import load_audio

    full = tmp_path / "full.wav"
    sf.write(full, _tone(2.0, 200), SR, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:44 + 478 * 2])  # header says 2 s, 478 samples present
    with caplog.at_level(logging.WARNING, logger="svae_tts.audio"):
        wav, sr = load_audio(cut)
        load_audio(cut)  # once per file, not once per read
        load_audio(full)
    assert wav.shape == (478,) and sr == SR
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(cut) in warnings[0] and "truncated" in warnings[0] and "2.000 s" in warnings[0]
    item, reason = check_item({"id": "c", "audio": str(cut), "text": "words"}, ValidationLimits(min_duration=0.01))
    assert reason is None and item["duration"] == pytest.approx(478 / SR)


def test_malformed_lst_line_says_how_many_columns(tmp_path):
    from eval.errors import EvalError
    from eval.testlist import read_librispeech_pc

    lst = tmp_path / "x.lst"
    lst.write_text("a\tb\tc\td\te\n")
    with pytest.raises(EvalError, match=r"x.lst:1: expected 6 .* got 5$"):
        read_librispeech_pc(lst)
