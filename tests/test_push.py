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


@pytest.mark.parametrize("planted", ["optimizer.pt", "vocos/pytorch_model.bin", "extra/state.pkl", "hook.py"])
def test_files_that_run_code_refuse_the_push(vae_dir, planted, capsys):
    (vae_dir / planted).parent.mkdir(parents=True, exist_ok=True)
    (vae_dir / planted).write_bytes(b"\x80\x04N.")
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--dry-run"]) == 2
    _one_line(capsys, planted, "run code when loaded", "safetensors and JSON only")


def test_what_is_not_a_model_dir_is_refused(vae_dir, tmp_path, capsys):
    assert main(["push", str(tmp_path / "nowhere"), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, "nowhere: no such model directory")
    assert main(["push", str(vae_dir), "not-a-repo-id", "--dry-run"]) == 2
    _one_line(capsys, "not-a-repo-id: not a hub repo id (owner/name)")
    (vae_dir / "config.json").write_text('{"model_kind": "someone_elses"}')
    assert main(["push", str(vae_dir), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, "not an svae-tts model dir (model_kind 'someone_elses')")
    (vae_dir / "model.safetensors").unlink()
    assert main(["push", str(vae_dir), "someone/x", "--dry-run"]) == 2
    _one_line(capsys, "not a model directory (missing model.safetensors)")


def test_offline_the_upload_fails_in_one_line_after_writing_the_card(vae_dir, offline_hub, capsys):
    assert main(["push", str(vae_dir), "someone/tiny-vae", "--license", "cc-by-4.0"]) == 2
    _one_line(capsys, "someone/tiny-vae: upload failed")
    card = (vae_dir / CARD_NAME).read_text()
    assert 'license: "cc-by-4.0"' in card and 'load_vae("MODEL"' in card
