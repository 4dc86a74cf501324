"""``eval text-reliance``: a model that learnt its text is hurt by another item's text; one that cannot
see text is not. The fixture audio renders each character as an evenly paced tone, so a tiny DiT
with the text averaged over the frames learns to read it in a couple of hundred steps."""

import json

import pytest
import torch

from eval.errors import EvalError
from eval.text_reliance import run_text_reliance, text_reliance
from svae_tts.cli import main as cli_main
from tests.tts_fixtures import build_assets, one_torch_thread, tiny_cfg  # noqa: F401
from tts_recipes.model import TTSModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tts_recipes.train import train

    root = tmp_path_factory.mktemp("text_reliance")
    assets = build_assets(root / "assets", n_train=8, n_test=2)
    r = train(tiny_cfg(root / "run", assets["latents"], "max_steps=200", "save_every=200", "optim.lr=2e-3",
                       "optim.warmup_steps=10"))
    return {"model": r["exports"][-1], "latents": assets["latents"], "root": root}


def test_a_model_that_learnt_its_text_is_hurt_by_another(trained):
    res = text_reliance(trained["model"], trained["latents"], split="train")
    assert res["items"] == 8 and len(res["utterances"]) == 8
    assert res["gap"] > 0.3 and res["other"] > res["own"] and res["p"] < 0.05
    assert res == text_reliance(trained["model"], trained["latents"], split="train")  # same seed, same numbers


def test_a_model_blind_to_text_shows_no_gap(trained, tmp_path):
    model = TTSModel.from_pretrained(trained["model"])
    proj = model.cfm.transformer.input_embed.proj  # reads cat(noisy frames, context, text embedding)
    with torch.no_grad():
        proj.weight[:, 2 * model.feature_dim:] = 0  # the text's columns: whatever the text, it adds nothing
    blind = model.save_pretrained(tmp_path / "blind")
    res = text_reliance(blind, trained["latents"], split="train")
    assert res["own"] == res["other"] and res["gap"] == 0 and res["p"] == 1


def test_cli_writes_the_table_and_refuses_bad_inputs(trained, tmp_path, capsys):
    out = tmp_path / "tr"
    argv = ["eval", "text-reliance", "--model", f"tiny={trained['model']}", "--data", str(trained["latents"]),
            "--split", "train", "--limit", "4", "--out", str(out)]
    assert cli_main(argv) == 0
    rows = json.loads((out / "text_reliance.json").read_text())
    assert [r["name"] for r in rows] == ["tiny"] and rows[0]["items"] == 4
    assert "| tiny | 4 |" in (out / "text_reliance.md").read_text()
    assert cli_main(argv) == 2 and "exists" in capsys.readouterr().err  # never overwritten unasked
    inside = ["eval", "text-reliance", "--model", str(trained["model"]), "--data", str(trained["latents"]),
              "--out", str(trained["latents"] / "tr")]
    assert cli_main(inside) == 2 and "inside" in capsys.readouterr().err
    with pytest.raises(EvalError, match="no 'dev' split"):
        text_reliance(trained["model"], trained["latents"], split="dev")
    with pytest.raises(EvalError, match="at least 2"):
        run_text_reliance([("m", str(trained["model"]), trained["latents"])], tmp_path / "one", items=1, split="train")


def test_a_latent_set_from_elsewhere_is_warned_about(trained, tmp_path, caplog):
    from svae_tts.formats.latent_set import load_latent_set, write_latent_set

    ls = load_latent_set(trained["latents"])
    rows = [{**r, "split": split} for split in ls.dataset for r in ls.dataset[split]]
    louder = {r["id"]: 10 * torch.as_tensor(r["latents"]) for r in rows}  # another VAE's scale
    info = {k: v for k, v in ls.info.items() if k not in ("frames", "splits")}
    write_latent_set(tmp_path / "louder", [{k: v for k, v in r.items() if k != "latents"} for r in rows],
                     louder.__getitem__, info)
    with caplog.at_level("WARNING"):
        text_reliance(trained["model"], trained["latents"], split="train", items=2)
    assert "far from" not in caplog.text
    with caplog.at_level("WARNING"):
        text_reliance(trained["model"], tmp_path / "louder", split="train", items=2)
    assert "far from the ones the model was trained with" in caplog.text


def test_a_context_that_hides_nothing_is_refused(trained, capsys):
    with pytest.raises(EvalError, match=r"context must be in \[0, 1\)"):
        text_reliance(trained["model"], trained["latents"], split="train", context=1.0)
    argv = ["eval", "text-reliance", "--model", str(trained["model"]), "--data", str(trained["latents"]),
            "--out", str(trained["root"] / "never"), "--context", "1"]
    assert cli_main(argv) == 2 and not (trained["root"] / "never").exists()
