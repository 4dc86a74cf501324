"""Resumed extraction jobs (issue 14, classes 4 and 5): a bad item is reported once however often
the job is re-run, and a shard left truncated is set aside and redone, not a traceback."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from data_prep import latents as latents_mod
from data_prep.builders import build_csv
from data_prep.corpus import SplitSpec
from svae_tts.formats.corpus import load_corpus
from data_prep.errors import DataError
from data_prep.features import extract_features
from data_prep.latents import extract_latents
from svae_tts.formats.latent_set import load_latent_set
from svae_tts.formats.shards import shard_files
from svae_tts.formats.teacher_features import FeatureStore
from svae_tts.cli import main as cli_main

from tests.shared_fixtures import write_tone_list

SR = 16000


@pytest.fixture
def corpus_with_a_lost_file(tmp_path):
    """Five short tones by two speakers; the audio of one train item is gone after the build."""
    write_tone_list(tmp_path, 5, SR)
    out = tmp_path / "corpus"
    build_csv(tmp_path / "list.csv", out, split=SplitSpec(test_size=1))
    gone = load_corpus(out)["train"][0]
    (tmp_path / f"{gone['id']}.wav").unlink()
    return out, gone["id"]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    from tests.shared_fixtures import save_tiny_wavlm

    return save_tiny_wavlm(tmp_path_factory.mktemp("teacher") / "tiny_wavlm", hidden=16, layers=1, conv=8)


def _jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_latents_skip_report_lists_a_bad_item_once_after_a_crash_and_rerun(corpus_with_a_lost_file, tmp_path,
                                                                          monkeypatch):
    corpus, gone = corpus_with_a_lost_file
    out = tmp_path / "lat"

    def killed(*a, **k):  # the process dies after encoding, before the set is assembled
        raise KeyboardInterrupt

    monkeypatch.setattr(latents_mod, "assemble", killed)
    with pytest.raises(KeyboardInterrupt):
        extract_latents(corpus, out, "preset:tiny", batch_size=2)
    monkeypatch.undo()
    extract_latents(corpus, out, "preset:tiny", batch_size=2, keep_shards=True)
    assert [r["id"] for r in _jsonl(out / "skipped.jsonl")] == [gone]
    assert [r["id"] for r in _jsonl(out / "shards" / "skipped-r000.jsonl")] == [gone]
    ls = load_latent_set(out)
    assert len(ls.dataset["train"]) + len(ls.dataset["test"]) == 4


def test_features_skip_report_lists_a_bad_item_once_however_often_rerun(corpus_with_a_lost_file, teacher_dir, tmp_path):
    corpus, gone = corpus_with_a_lost_file
    out = tmp_path / "feat"
    for _ in range(3):
        extract_features(corpus, out, str(teacher_dir), batch_size=2, shard_size=2)
    assert [r["id"] for r in _jsonl(out / "skipped-r000.jsonl")] == [gone]
    report = _jsonl(out / "skipped.jsonl")  # the merged report the docstring promises
    assert [r["id"] for r in report] == [gone] and "no such file" in report[0]["reason"]
    assert len(FeatureStore(out)) == 4


def test_truncated_shard_on_rerun_is_set_aside_and_redone(corpus_with_a_lost_file, tmp_path, monkeypatch, caplog, capsys):
    from vae import SemanticVAE

    corpus, _ = corpus_with_a_lost_file
    vae = str(SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "vae"))  # fixed weights: runs compare
    full = load_latent_set(extract_latents(corpus, tmp_path / "full", vae, batch_size=1))
    out = tmp_path / "res"
    real, calls = SemanticVAE.encode_clips, {"n": 0}

    def crash_on_third(*a, **k):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt  # a crash of the job (an item error would only be skipped)
        return real(*a, **k)

    monkeypatch.setattr(SemanticVAE, "encode_clips", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        extract_latents(corpus, out, vae, batch_size=1, shard_size=1)
    monkeypatch.undo()
    shards = shard_files(out / "shards")
    assert len(shards) == 2
    victim = shards[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # a full disk, a bad copy
    with caplog.at_level(logging.WARNING, logger="data_prep.shards"):
        rc = cli_main(["data", "latents", "--corpus", str(corpus), "--model", vae, "--out", str(out),
                       "--batch-size", "1", "--shard-size", "1"])
    assert rc == 3, capsys.readouterr().err  # done; the broken item skipped (its report says so)
    notes = [r.getMessage() for r in caplog.records if victim.name in r.getMessage()]
    assert len(notes) == 1 and "truncated or corrupt" in notes[0] and "redone" in notes[0]
    resumed = load_latent_set(out)
    for split in ("train", "test"):
        a, b = full.dataset[split], resumed.dataset[split]
        assert list(a["id"]) == list(b["id"])
        for x, y in zip(a["latents"], b["latents"]):
            torch.testing.assert_close(torch.tensor(x), torch.tensor(y))


def test_reading_a_truncated_feature_shard_is_one_error_naming_it(corpus_with_a_lost_file, teacher_dir, tmp_path):
    corpus, _ = corpus_with_a_lost_file
    out = extract_features(corpus, tmp_path / "feat", str(teacher_dir), batch_size=2, shard_size=2)
    victim = shard_files(out)[-1]
    victim.write_bytes(victim.read_bytes()[:7])
    with pytest.raises(DataError, match=f"{victim.name}: unreadable shard, truncated or corrupt"):
        FeatureStore(out)
