"""Batch jobs skip the item that fails, in any way, and go on; empty splits stay loadable (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from svae_tts.cli import main as cli_main
from vae import SemanticVAE

SR = 16000


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.shared_fixtures import save_tiny_vae

    return save_tiny_vae(tmp_path_factory.mktemp("model") / "tiny_vae")


def _wavs(folder: Path, seconds: dict[str, float]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, sec in seconds.items():
        sf.write(folder / f"{name}.wav", (0.1 * rng.standard_normal(int(sec * SR))).astype("float32"), SR)
    return folder


def _report(out: Path, command: str) -> dict:
    return json.loads((out / f"{command}_report.json").read_text())


def test_decode_batch_skips_a_latent_file_with_malformed_metadata(tiny_dir, tmp_path, capsys):
    audio = _wavs(tmp_path / "audio", {"a": 0.5, "b": 0.5, "c": 0.5})
    lat = tmp_path / "lat"
    assert cli_main(["vae", "encode", str(audio), "-o", str(lat), "-m", str(tiny_dir), "--no-progress"]) == 0
    bad = lat / "b.safetensors"
    with safe_open(str(bad), framework="pt") as f:
        tensors, meta = {"latents": f.get_tensor("latents")}, dict(f.metadata())
    save_file(tensors, str(bad), metadata={**meta, "frame_rate": "fast"})
    capsys.readouterr()

    out = tmp_path / "wav"
    rc = cli_main(["vae", "decode", str(lat), "-o", str(out), "-m", str(tiny_dir), "--no-progress"])
    assert rc == 3  # the batch convention: some input failed (exit 3), the rest was written
    assert sorted(p.name for p in out.glob("*.wav")) == ["a.wav", "c.wav"]  # c, after the bad file, too
    rep = _report(out, "decode")
    assert [Path(f["path"]).name for f in rep["failed"]] == ["b.safetensors"]
    assert "frame_rate 'fast' is not a positive number" in rep["failed"][0]["reason"]
    assert "svae-tts: skipped " in capsys.readouterr().err and "b.safetensors" in rep["failed"][0]["path"]


def test_running_out_of_memory_on_one_huge_file_skips_only_that_file(tiny_dir, tmp_path, monkeypatch):
    """A file too long for the machine: the allocation really fails (torch refuses an impossible
    size once the latents pass a length this test sets as the machine's limit)."""
    audio = _wavs(tmp_path / "audio", {"a": 0.5, "b_huge": 3.0, "c": 0.5})
    decode = SemanticVAE.decode

    def decode_with_limited_memory(self, z, length=None):
        if z.shape[1] > 40:  # more than 1 s of latents does not fit
            torch.empty(2**62, dtype=torch.uint8)
        return decode(self, z, length)

    monkeypatch.setattr(SemanticVAE, "decode", decode_with_limited_memory)
    out = tmp_path / "rec"
    rc = cli_main(["vae", "reconstruct", str(audio), "-o", str(out), "-m", str(tiny_dir), "--no-progress"])
    assert rc == 3  # done, one file skipped
    assert sorted(p.name for p in out.glob("*.wav")) == ["a.wav", "c.wav"]
    failed = _report(out, "reconstruct")["failed"]
    assert [Path(f["path"]).name for f in failed] == ["b_huge.wav"] and failed[0]["reason"].startswith("out of memory")


def test_shard_extraction_retries_a_failed_batch_item_by_item(tmp_path):
    """Latent/feature extraction: one item that cannot be encoded fails its whole batch; the batch is
    redone one item at a time so only that item is skipped (and listed in skipped-r000.jsonl)."""
    from data_prep.shards import encode_into_shards
    from svae_tts.formats.shards import shard_index

    audio = _wavs(tmp_path / "audio", {"u1": 0.5, "u2": 0.6, "u3_huge": 2.0, "u4": 0.7})
    rows = [{"id": p.stem, "audio": str(p), "duration": sf.info(p).duration} for p in sorted(audio.glob("*.wav"))]

    def encode(wavs, ids):
        if max(w.shape[0] for w in wavs) > SR:  # the huge one does not fit
            torch.empty(2**62, dtype=torch.uint8)
        return [w[:10].clone() for w in wavs]

    skipped = encode_into_shards(rows, tmp_path / "shards", encode, SR, batch_size=4, progress=False)
    assert [s["id"] for s in skipped] == ["u3_huge"] and skipped[0]["reason"].startswith("out of memory")
    assert sorted(shard_index(tmp_path / "shards")) == ["u1", "u2", "u4"]
    lines = (tmp_path / "shards" / "skipped-r000.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["u3_huge"]


@pytest.mark.parametrize("csv_rows, sizes", [
    ("wavs/a.wav,one two,s1\nwavs/b.wav,three four,s2\n", {"train": 2, "test": 0}),  # --test-size 0
    ("wavs/a.wav,one two,s1\nwavs/b.wav,,s2\n", {"train": 1, "test": 0}),  # one usable row
])
def test_empty_test_split_is_written_loadable(tmp_path, capsys, csv_rows, sizes):
    from svae_tts.formats.corpus import load_corpus

    _wavs(tmp_path / "wavs", {"a": 0.5, "b": 0.5})
    (tmp_path / "list.csv").write_text("path,text,speaker\n" + csv_rows)
    out = tmp_path / "corpus"
    args = ["data", "build", "csv", str(tmp_path / "list.csv"), "--out", str(out)]
    # exit 3 when a row was skipped (the one without text), 0 when none was
    assert cli_main(args + (["--test-size", "0"] if sizes["train"] == 2 else [])) == (0 if sizes["train"] == 2 else 3)
    dd = load_corpus(out)
    assert {k: len(v) for k, v in dd.items()} == sizes
    assert dd["test"].column_names == dd["train"].column_names
    capsys.readouterr()
    # a consumer that needs test items says so in one line
    assert cli_main(["eval", "testlist", "--corpus", str(out), "--out", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no prompt/target pairs" in err


def test_vae_training_data_falls_back_from_an_empty_test_split(tmp_path):
    from data_prep.builders import build_csv
    from data_prep.corpus import SplitSpec
    from vae.data import list_items
    from vae.model import VAEError

    _wavs(tmp_path / "wavs", {"a": 0.5, "b": 0.5})
    (tmp_path / "list.csv").write_text("path,text,speaker\nwavs/a.wav,one,s1\nwavs/b.wav,two,s2\n")
    build_csv(tmp_path / "list.csv", tmp_path / "corpus", split=SplitSpec(test_size=0))
    assert [i.id for i in list_items(tmp_path / "corpus", "train")] == ["a", "b"]
    with pytest.raises(VAEError, match="no audio items found in split 'test'"):
        list_items(tmp_path / "corpus", "test")  # what vae.train's validation catches to use train items
