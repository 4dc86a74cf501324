"""Corpus builders: LibriTTS tree, CSV, saved HF dataset; bad items are reported, good ones kept."""

import csv
import json

import datasets
import numpy as np
import pytest
import soundfile as sf

from data_prep.builders import build_csv, build_hf, build_libritts
from data_prep.corpus import SplitSpec, ValidationLimits
from svae_tts.formats.corpus import load_corpus, read_report
from data_prep.errors import DataError
from svae_tts.cli import main as cli_main
from svae_tts.errors import OutputExistsError

SR = 16000


def _tone(seconds, f0=220.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def make_tree(root):
    """A LibriTTS-like tree: 3 speakers x 2 good utterances plus one of each kind of bad item."""
    good = []
    for spk in ("101", "202", "303"):
        for k in range(2):
            d = root / spk / "7"
            d.mkdir(parents=True, exist_ok=True)
            stem = f"{spk}_7_{k:06d}_000000"
            sf.write(d / f"{stem}.wav", _tone(0.5 + 0.1 * k, 200 + int(spk)), SR)
            (d / f"{stem}.normalized.txt").write_text(f"Speaker {spk} says sentence {k}.")
            good.append(stem)
    bad_dir = root / "909" / "1"
    bad_dir.mkdir(parents=True)
    bad = {}

    def txt(stem):
        (bad_dir / f"{stem}.normalized.txt").write_text("some words")

    stem = "909_1_000000_000001"  # corrupt bytes
    (bad_dir / f"{stem}.wav").write_bytes(b"RIFF\x00\x01garbage-not-audio" * 10)
    txt(stem)
    bad[stem] = "unreadable"
    stem = "909_1_000000_000002"  # empty file
    (bad_dir / f"{stem}.wav").write_bytes(b"")
    txt(stem)
    bad[stem] = "empty file"
    stem = "909_1_000000_000003"  # NaN samples
    x = _tone(0.5)
    x[100:200] = np.nan
    sf.write(bad_dir / f"{stem}.wav", x, SR, subtype="FLOAT")
    txt(stem)
    bad[stem] = "non-finite"
    stem = "909_1_000000_000004"  # missing transcript
    sf.write(bad_dir / f"{stem}.wav", _tone(0.5), SR)
    bad[stem] = "missing transcript"
    stem = "909_1_000000_000005"  # zero-length audio
    sf.write(bad_dir / f"{stem}.wav", np.zeros(0, dtype=np.float32), SR)
    txt(stem)
    bad[stem] = "zero-length"
    stem = "909_1_000000_000006"  # unsupported channel count
    sf.write(bad_dir / f"{stem}.wav", np.stack([_tone(0.5)] * 3, axis=1), SR)
    txt(stem)
    bad[stem] = "3 channels"
    stem = "909_1_000000_000007"  # empty transcript
    sf.write(bad_dir / f"{stem}.wav", _tone(0.5), SR)
    (bad_dir / f"{stem}.normalized.txt").write_text("   \n")
    bad[stem] = "empty transcript"
    stem = "909_1_000000_000008"  # too long for the limits used below
    sf.write(bad_dir / f"{stem}.wav", _tone(3.0), SR)
    txt(stem)
    bad[stem] = "above the maximum"
    return good, bad


def _check_report(out, bad):
    report = {r["id"]: r for r in read_report(out)}
    assert set(report) == set(bad)
    for stem, needle in bad.items():
        assert needle in report[stem]["reason"], (stem, report[stem])
        assert report[stem]["path"].endswith(f"{stem}.wav")


def test_libritts_builder_keeps_good_reports_bad(tmp_path):
    good, bad = make_tree(tmp_path / "tree")
    out = tmp_path / "corpus"
    dd = build_libritts(tmp_path / "tree", out, split=SplitSpec(test_size=2, seed=0),
                        limits=ValidationLimits(max_duration=2.0))
    ids = sorted(list(dd["train"]["id"]) + list(dd["test"]["id"]))
    assert ids == sorted(good)
    assert len(dd["test"]) == 2
    row = dd["train"][0]
    assert set(row) >= {"id", "audio", "text", "speaker", "duration", "sample_rate"}
    assert row["speaker"] == row["id"].split("_")[0]
    assert row["sample_rate"] == SR
    assert abs(row["duration"] - sf.info(row["audio"]).duration) < 1e-6
    _check_report(out, bad)
    # the loader reads it back, and rejects what is not a corpus
    assert len(load_corpus(out)["train"]) == len(dd["train"])
    with pytest.raises(DataError, match="nowhere"):
        load_corpus(tmp_path / "nowhere")


def test_rerun_is_idempotent_and_never_clobbers(tmp_path):
    make_tree(tmp_path / "tree")
    out = tmp_path / "corpus"
    build_libritts(tmp_path / "tree", out)
    stamp = (out / "dataset_dict.json").stat().st_mtime_ns
    dd = build_libritts(tmp_path / "tree", out)  # same inputs: nothing redone
    assert (out / "dataset_dict.json").stat().st_mtime_ns == stamp
    assert len(dd["train"]) + len(dd["test"]) == 7  # 6 good + the 3 s item (default limits)
    # new input: refuse to replace without overwrite, rebuild with it
    sf.write(tmp_path / "tree" / "101" / "7" / "101_7_000009_000000.wav", _tone(0.7), SR)
    (tmp_path / "tree" / "101" / "7" / "101_7_000009_000000.normalized.txt").write_text("A new one.")
    with pytest.raises(OutputExistsError):
        build_libritts(tmp_path / "tree", out)
    dd = build_libritts(tmp_path / "tree", out, overwrite=True)
    assert len(dd["train"]) + len(dd["test"]) == 8


def test_speaker_disjoint_test_split(tmp_path):
    make_tree(tmp_path / "tree")
    dd = build_libritts(tmp_path / "tree", tmp_path / "c", split=SplitSpec(test_speakers=1, seed=3))
    assert len(set(list(dd["test"]["speaker"]))) == 1
    assert not set(list(dd["train"]["speaker"])) & set(list(dd["test"]["speaker"]))
    with pytest.raises(DataError, match="only 4"):  # 3 good speakers + 909's 3 s item
        build_libritts(tmp_path / "tree", tmp_path / "c2", split=SplitSpec(test_speakers=4))


def test_csv_builder_with_relative_paths_and_num_proc(tmp_path):
    good, bad = make_tree(tmp_path / "tree")
    rows = []
    for wav in sorted((tmp_path / "tree").rglob("*.wav")):
        txt = wav.with_name(wav.stem + ".normalized.txt")
        text = txt.read_text() if txt.exists() else ""
        rows.append({"path": str(wav.relative_to(tmp_path)), "text": text, "speaker": wav.parent.parent.name})
    path = tmp_path / "list.tsv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "text", "speaker"], delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "corpus"
    dd = build_csv(path, out, limits=ValidationLimits(max_duration=2.0), num_proc=2)
    assert sorted(list(dd["train"]["id"]) + list(dd["test"]["id"])) == sorted(good)
    assert set(list(dd["train"]["speaker"]) + list(dd["test"]["speaker"])) <= {"101", "202", "303"}
    bad = dict(bad)
    bad["909_1_000000_000004"] = "empty transcript"  # in the CSV the missing transcript is an empty cell
    _check_report(out, bad)
    with pytest.raises(DataError, match="no column 'wav'"):
        build_csv(path, tmp_path / "x", path_col="wav")


def test_hf_builder_from_saved_dataset_with_audio_bytes(tmp_path):
    good, _ = make_tree(tmp_path / "tree")
    wavs = sorted((tmp_path / "tree").rglob("*.wav"))
    good_wavs = [w for w in wavs if w.stem in good]
    data = {
        "utt": [w.stem for w in good_wavs] + ["broken"],
        "sentence": [f"text {i}" for i in range(len(good_wavs))] + ["x"],
        "spk": [w.parent.parent.name for w in good_wavs] + ["9"],
        "sound": [{"bytes": w.read_bytes(), "path": w.name} for w in good_wavs] + [{"bytes": b"junk" * 50, "path": "b.wav"}],
    }
    ds = datasets.Dataset.from_dict(data).cast_column("sound", datasets.Audio())
    ds.save_to_disk(str(tmp_path / "hfds"))
    out = tmp_path / "corpus"
    dd = build_hf(str(tmp_path / "hfds"), out, audio_col="sound", text_col="sentence", speaker_col="spk", id_col="utt")
    got = sorted(list(dd["train"]["id"]) + list(dd["test"]["id"]))
    assert got == sorted(good)
    row = dd["train"][0]
    assert row["audio"].startswith(str(out.resolve())) and sf.info(row["audio"]).samplerate == SR
    report = read_report(out)
    assert [r["id"] for r in report] == ["broken"] and "unreadable" in report[0]["reason"]


def test_cli_reports_data_errors_in_one_line(tmp_path, capsys):
    rc = cli_main(["data", "build", "libritts", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
    (tmp_path / "tree").mkdir()
    make_tree(tmp_path / "tree")
    rc = cli_main(["data", "build", "libritts", str(tmp_path / "tree"), "--out", str(tmp_path / "o"), "--test-speakers", "1"])
    assert rc == 3  # built, with items skipped: each named on stderr
    assert capsys.readouterr().err.count("svae-tts: skipped ") == 7
    info = json.loads((tmp_path / "o" / "corpus_info.json").read_text())
    assert info["skipped"] == 7  # the 3 s item passes the default limits and info["speakers"]["test"] == 1


def test_dev_speakers_make_a_third_speaker_disjoint_split(tmp_path):
    make_tree(tmp_path / "tree")
    before = build_libritts(tmp_path / "tree", tmp_path / "c0", split=SplitSpec(test_speakers=1, seed=3))
    dd = build_libritts(tmp_path / "tree", tmp_path / "c", split=SplitSpec(test_speakers=1, dev_speakers=1, seed=3))
    spk = {s: set(dd[s]["speaker"]) for s in ("train", "dev", "test")}
    # 4 speakers (3 good + 909's 3 s item): one each to dev and test, two to train, none shared
    assert [len(spk[s]) for s in ("train", "dev", "test")] == [2, 1, 1] and len(set().union(*spk.values())) == 4
    assert spk["test"] == set(before["test"]["speaker"])  # adding dev speakers keeps the test speakers
    assert json.loads((tmp_path / "c" / "corpus_info.json").read_text())["speakers"]["dev"] == 1
    with pytest.raises(DataError, match="cannot hold out 4 speakers .2 test, 2 dev.*only 4"):
        build_libritts(tmp_path / "tree", tmp_path / "c2", split=SplitSpec(test_speakers=2, dev_speakers=2))


def test_old_layout_corpus_without_dev_loads_and_validates_on_test(tmp_path):
    """A corpus saved before the dev split (train/test only) loads as it is; everything that
    validates falls back to test. A corpus with dev speakers validates on dev."""
    from data_prep.ctc import CTCTrainConfig, _training_rows
    from svae_tts.formats.corpus import corpus_rows, validation_split
    from vae.data import list_items, valid_split_of

    make_tree(tmp_path / "tree")
    new = build_libritts(tmp_path / "tree", tmp_path / "new", split=SplitSpec(test_speakers=1, dev_speakers=1, seed=3))
    old_dir = tmp_path / "old"
    datasets.DatasetDict({"train": new["train"], "test": new["test"]}).save_to_disk(str(old_dir))
    old = load_corpus(old_dir)
    assert list(old) == ["train", "test"] and validation_split(old) == "test" and valid_split_of(old_dir) == "test"
    assert {r["split"] for r in corpus_rows(old_dir)} == {"train", "test"}
    assert validation_split(new) == "dev" and valid_split_of(tmp_path / "new") == "dev"
    assert [i.id for i in list_items(tmp_path / "new", "test")] == list(new["test"]["id"])  # explicit split still works
    cfg = CTCTrainConfig(eval_items=8)
    assert [r["id"] for r in _training_rows(old, cfg, old_dir)[1]] == list(old["test"]["id"])
    assert [r["id"] for r in _training_rows(new, cfg, tmp_path / "new")[1]] == list(new["dev"]["id"])
    # no dev speakers: no dev split is written (the old layout), and validation reads test
    plain = build_libritts(tmp_path / "tree", tmp_path / "plain", split=SplitSpec(test_speakers=1, seed=3))
    assert list(plain) == ["train", "test"] and validation_split(plain) == "test"
    assert validation_split({"train": [1], "dev": [], "test": [2]}) == "test"
