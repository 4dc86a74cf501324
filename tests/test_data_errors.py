"""User error paths of the data stage: each bad input raises a DataError naming it, or is skipped and reported."""

import json

import datasets
import pytest

from data_prep.builders import build_csv, build_hf, build_libritts
from svae_tts.formats.corpus import load_corpus, read_report
from data_prep.errors import DataError

from tests.shared_fixtures import write_tone_list

SR = 16000


@pytest.fixture
def small_corpus(tmp_path):
    """Four 0.3-0.6 s tones by two speakers, built through the CSV builder (validated, split)."""
    write_tone_list(tmp_path, 4, SR)
    out = tmp_path / "corpus"
    build_csv(tmp_path / "list.csv", out)
    return out


def test_latents_skip_audio_that_vanished_and_report_it(small_corpus, tmp_path):
    from data_prep.latents import extract_latents
    from svae_tts.formats.latent_set import load_latent_set

    dd = load_corpus(small_corpus)
    gone = dd["train"][0]
    (small_corpus.parent / f"{gone['id']}.wav").unlink()
    out = extract_latents(small_corpus, tmp_path / "lat", "preset:tiny", batch_size=2)
    ls = load_latent_set(out)
    kept = list(ls.dataset["train"]["id"]) + list(ls.dataset["test"]["id"])
    assert gone["id"] not in kept and len(kept) == 3
    report = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert [r["id"] for r in report] == [gone["id"]] and report[0]["path"] == gone["audio"]
    assert report[0]["reason"]


def test_latents_refuse_to_mix_settings_and_bad_sets(small_corpus, tmp_path, monkeypatch):
    from data_prep import latents as lm
    from svae_tts.formats.latent_set import INFO_FILE, load_latent_set
    from vae.model import SemanticVAE

    def crash(*a, **k):  # an interrupted job (a failing item would only be skipped)
        raise KeyboardInterrupt

    monkeypatch.setattr(SemanticVAE, "encode_clips", crash)
    with pytest.raises(KeyboardInterrupt):
        lm.extract_latents(small_corpus, tmp_path / "lat", "preset:tiny")
    monkeypatch.undo()
    with pytest.raises(DataError, match="other settings"):  # the unfinished job used sample=False
        lm.extract_latents(small_corpus, tmp_path / "lat", "preset:tiny", sample=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / INFO_FILE).write_text("{}")
    with pytest.raises(DataError, match="broken.*unreadable latent set"):
        load_latent_set(tmp_path / "broken")


def test_features_bad_arguments_and_folders(small_corpus, tmp_path):
    from data_prep.features import extract_features, load_teacher
    from svae_tts.formats.corpus import corpus_rows
    from svae_tts.formats.teacher_features import FeatureStore

    with pytest.raises(DataError, match="'bfloat16'"):
        extract_features(small_corpus, tmp_path / "f", "unused", dtype="bfloat16")
    with pytest.raises(DataError, match="no split 'dev'"):
        corpus_rows(small_corpus, ["dev"])
    with pytest.raises(DataError, match="no_teacher.*cannot load"):
        load_teacher(tmp_path / "no_teacher")
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                         vocab_size=10)).save_pretrained(str(tmp_path / "bert"))
    with pytest.raises(DataError, match="not a wav2vec2-style"):
        load_teacher(tmp_path / "bert")
    with pytest.raises(DataError, match="not a teacher-features folder"):
        FeatureStore(tmp_path)


def test_corpus_loader_and_builders_name_the_bad_input(small_corpus, tmp_path):
    with pytest.raises(DataError, match="plain.*not a saved corpus"):
        (tmp_path / "plain").mkdir()
        load_corpus(tmp_path / "plain")
    datasets.Dataset.from_dict({"id": ["a"], "audio": ["/x.wav"]}).save_to_disk(str(tmp_path / "thin"))
    with pytest.raises(DataError, match="lacks column"):
        load_corpus(tmp_path / "thin")
    with pytest.raises(DataError, match="no .wav files"):
        build_libritts(tmp_path / "plain", tmp_path / "o1")
    with pytest.raises(DataError, match="no such CSV"):
        build_csv(tmp_path / "none.csv", tmp_path / "o2")
    with pytest.raises(DataError, match="no column 'utt'"):
        build_csv(tmp_path / "list.csv", tmp_path / "o3", id_col="utt")
    (tmp_path / "bad.csv").write_text("path,text\nmissing.wav,hello\n")
    with pytest.raises(DataError, match="bad.csv: no usable items.*no such file"):
        build_csv(tmp_path / "bad.csv", tmp_path / "o4")
    with pytest.raises(DataError, match="no split 'dev'"):
        build_hf(str(small_corpus), tmp_path / "o5", hf_split="dev")
    with pytest.raises(DataError, match="no column 'sound'"):
        build_hf(str(small_corpus), tmp_path / "o6", audio_col="sound")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))  # nothing half-written
    assert read_report(small_corpus) == []


def test_library_errors_are_kept_to_one_line(tmp_path):
    from data_prep.errors import exc_summary

    assert exc_summary(ValueError()) == "ValueError"
    assert exc_summary(OSError("first\nsecond")) == "OSError: first"
    assert exc_summary(KeyError("x" * 500), limit=10) == "KeyError: 'xxxxxxxxx"
    with pytest.raises(DataError, match=r"no_such_dataset: cannot load dataset \(\w+Error"):
        build_hf(str(tmp_path / "no_such_dataset"), tmp_path / "o")
