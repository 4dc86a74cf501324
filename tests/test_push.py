"""``svae-tts push``: only model dirs of safetensors and JSON go up, with a card; the dry run lists them.

The upload itself needs the hub; offline, only its failure is tested (one line, exit 2)."""

import pytest
import torch

from svae_tts.cli import main
from svae_tts.model_card import CARD_NAME


@pytest.fixture
def vae_dir(tmp_path):
    from vae import SemanticVAE

    torch.manual_seed(0)
    return SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "vae")


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("svae-tts: error:") and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def test_dry_run_lists_the_files_and_the_card_it_would_write_and_writes_nothing(vae_dir, capsys):
    (vae_dir / ".notes.swp").write_text("editor leftover")
    (vae_dir / ".model.tmp-1234").mkdir()
    (vae_dir / ".model.tmp-1234" / "model.safetensors").write_bytes(b"x")
    before = sorted(p.name for p in vae_dir.iterdir())
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == [CARD_NAME, "config.json", "model.safetensors"]
    assert "model card, written from config.json" in out and "dry run: nothing written or uploaded" in out
    assert out.startswith("someone/tiny-vae: 3 file(s)")
    assert sorted(p.name for p in vae_dir.iterdir()) == before  # no card written by a dry run


def test_a_card_the_user_wrote_is_listed_as_it_is(vae_dir, capsys):
    (vae_dir / CARD_NAME).write_text("mine")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"  {CARD_NAME}  " in out and "model card" not in out
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run", "--rewrite-card"]) == 0
    assert "model card, rewritten" in capsys.readouterr().out
    assert (vae_dir / CARD_NAME).read_text() == "mine"


@pytest.mark.parametrize("planted", ["optimizer.pt", "vocos/pytorch_model.bin", "extra/state.pkl", "hook.py",
                                     "checkpoint.pth.tar", "stats.npy", "stats.npz", "lib/mod.pyc", "app.pyz",
                                     "notes.ipynb", "weights.h5", "flax_model.msgpack", "LICENSE"])
def test_what_a_model_dir_does_not_hold_refuses_the_push(vae_dir, planted, capsys):
    (vae_dir / planted).parent.mkdir(parents=True, exist_ok=True)
    (vae_dir / planted).write_bytes(b"\x80\x04N.")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert f"  {planted}  refused (not a model-dir file type)" in captured.out
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("svae-tts: error:") and "Traceback" not in err, err
    assert planted in err and "holds what a model dir does not" in err and ".safetensors, .json" in err, err


def test_the_dry_run_lists_a_refused_file_and_a_real_push_refuses_before_writing(vae_dir, capsys):
    (vae_dir / "checkpoint.pth.tar").write_bytes(b"\x80\x04N.")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert "  checkpoint.pth.tar  refused (not a model-dir file type)" in captured.out
    assert captured.err.count("\n") == 1 and "checkpoint.pth.tar" in captured.err
    assert main(["push", str(vae_dir), "someone/tiny-vae"]) == 2
    _one_line(capsys, "checkpoint.pth.tar")
    assert not (vae_dir / CARD_NAME).exists()  # nothing written: the checks failed


@pytest.mark.parametrize("link", ["notes.txt", "extra"])
def test_a_symlink_refuses_the_push(vae_dir, tmp_path, link, capsys):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.json").write_text("{}")
    (vae_dir / link).symlink_to(secret if link == "notes.txt" else tmp_path / "secrets")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert f"  {link}  refused (a symlink)" in captured.out and "key.json" not in captured.out
    assert captured.err.count("\n") == 1 and link in captured.err


def test_what_exports_and_imports_hold_goes_up(vae_dir, capsys):
    for rel in ("vae/config.json", "vae/model.safetensors", "vocab.json", "official_metainfo.json",
                "projector.safetensors", "vocos/config.yaml", "notes.txt", "extra.yml"):
        (vae_dir / rel).parent.mkdir(exist_ok=True)
        (vae_dir / rel).write_text("{}")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert listed == [CARD_NAME, "config.json", "extra.yml", "model.safetensors", "notes.txt", "official_metainfo.json",
                      "projector.safetensors", "vae/config.json", "vae/model.safetensors", "vocab.json",
                      "vocos/config.yaml"]


class _FakeHub:
    """huggingface_hub.HfApi without the network: what a commit would add, by repo path (push makes
    one commit of exact paths; a glob-pattern upload would have matched ``a[1].json`` as ``a1.json``)."""

    added: dict[str, bytes] = {}

    def __init__(self, *a, **k):
        pass

    def create_repo(self, *a, **k):
        pass

    def create_branch(self, *a, **k):
        pass

    def create_commit(self, repo_id, operations, **k):
        for op in operations:
            src = op.path_or_fileobj
            _FakeHub.added[op.path_in_repo] = open(src, "rb").read() if isinstance(src, str) else bytes(src)


def test_file_names_are_uploaded_as_they_are_not_as_glob_patterns(vae_dir, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    monkeypatch.setattr(_FakeHub, "added", {})
    (vae_dir / "a[1].json").write_text('{"bracket": 1}')
    (vae_dir / "a1.json").write_text('{"plain": 1}')
    (vae_dir / "b*.json").write_text('{"star": 1}')
    (vae_dir / "b?.txt").write_text("question")
    assert main(["push", str(vae_dir), "someone/tiny-vae"]) == 0
    assert set(_FakeHub.added) == {CARD_NAME, "config.json", "model.safetensors", "a[1].json", "a1.json",
                                   "b*.json", "b?.txt"}
    assert _FakeHub.added["a[1].json"] == b'{"bracket": 1}' and _FakeHub.added[CARD_NAME] == (vae_dir / CARD_NAME).read_bytes()


def test_what_is_not_a_model_dir_is_refused(vae_dir, tmp_path, capsys):
    assert main(["push", str(tmp_path / "nowhere"), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, "nowhere: no such model directory")
    assert main(["push", str(vae_dir), "not-a-repo-id", "--dry-run"]) == 2
    _one_line(capsys, "not-a-repo-id: not a hub repo id (owner/name)")
    ours = (vae_dir / "config.json").read_text()
    (vae_dir / "config.json").write_text('{"model_kind": "someone_elses"}')
    assert main(["push", str(vae_dir), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, f"{vae_dir}: this is a 'someone_elses' model, not a VAE or TTS model dir")
    (vae_dir / "config.json").write_text(ours)
    (vae_dir / "model.safetensors").unlink()
    assert main(["push", str(vae_dir), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, "not a model directory (missing model.safetensors)")


def test_offline_the_upload_fails_in_one_line_after_writing_the_card(vae_dir, offline_hub, capsys):
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--license", "cc-by-4.0"]) == 2
    _one_line(capsys, "someone/tiny-vae: upload failed")
    card = (vae_dir / CARD_NAME).read_text()
    assert 'license: "cc-by-4.0"' in card and 'load_vae("MODEL"' in card


def test_a_card_naming_local_paths_is_warned_about_one_line_each(vae_dir, capsys, caplog):
    (vae_dir / CARD_NAME).write_text("# mine\n\ntrained on /home/me/corpus and ~/data/latents\n\n"
                                     "| teacher | /opt/teachers/wavlm |\n\nsee https://arxiv.org/abs/2509.22167, 40 frames/s\n")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 3, warned
    assert "line 3: names the local path /home/me/corpus" in warned[0] and "~/data/latents" in warned[1]
    assert "line 5: names the local path /opt/teachers/wavlm" in warned[2]


def test_rewrite_card_keeps_the_facts_of_the_export_and_drops_local_paths(vae_dir, offline_hub, capsys, caplog):
    from svae_tts.model_card import card_for_model_dir

    card = card_for_model_dir(vae_dir, training={"steps": 3, "seed": 5, "data.train": "corpus"},
                              metrics={"training loss (mean of the last 2 steps)": 0.25}, license="mit").render()
    old = card.replace("| data.train | corpus |", "| data.train | /home/me/corpus |")  # as older exports wrote it
    (vae_dir / CARD_NAME).write_text(old)
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run", "--rewrite-card"]) == 0
    assert "rewritten from config.json and the old card's facts" in capsys.readouterr().out
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # the card it would upload names no path
    assert (vae_dir / CARD_NAME).read_text() == old  # a dry run writes nothing
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--rewrite-card"]) == 2
    _one_line(capsys, "someone/tiny-vae: upload failed")
    assert (vae_dir / CARD_NAME).read_text() == card
    assert "| steps | 3 |" in card and "| training loss (mean of the last 2 steps) | 0.25 |" in card
    assert 'license: "mit"' in card and "/home/me" not in card


def test_a_fifo_is_skipped_and_named_not_listed_as_uploadable(vae_dir, monkeypatch, capsys):
    """A FIFO was listed (and would have been read, waiting forever for a writer): only regular
    files are listed and uploaded, the others are named as skipped."""
    import os

    import huggingface_hub

    os.mkfifo(vae_dir / "pipe.json")
    os.mkfifo(vae_dir / "pipe")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 3  # done, two entries skipped
    out, err = capsys.readouterr()
    assert "svae-tts: skipped pipe: a FIFO, not a regular file" in err
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and "skipped" not in line]
    assert listed == [CARD_NAME, "config.json", "model.safetensors"]
    assert "  pipe  skipped (a FIFO, not a regular file)" in out and "  pipe.json  skipped (a FIFO" in out
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    monkeypatch.setattr(_FakeHub, "added", {})
    assert main(["push", str(vae_dir), "someone/tiny-vae"]) == 3
    assert set(_FakeHub.added) == {CARD_NAME, "config.json", "model.safetensors"}
