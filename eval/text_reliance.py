"""``svae-tts eval text-reliance``: how much a TTS model reads its text, from its loss alone.

A flow-matching TTS that has not learned to align text and frames can still lower its loss by
continuing the audio context, so its loss says little about whether it reads, and a judge cannot
hear anything until the speech is clear. This asks the model directly: on held-out items, the
flow-matching loss of the masked part with the item's own text and with another item's text (the
next one in the list), all else equal (the same noise, time and mask per item, drawn from
``seed``). A model that ignores the text scores the same with either; one that reads it is hurt
by the wrong one. (No "without text" condition: F5-TTS drops the text only together with the
audio context in training, so text dropped alone is a case the model never saw.) ``gap`` is
``other / own - 1`` over all items, and ``p`` is a paired sign-flip test
(:func:`eval.scoring.paired_test`) of own against other over the items.

Written here because neither F5-TTS nor another library exposes it; it runs the model's own
``DiT`` forward pass, nothing else.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F

from eval.errors import EvalError
from eval.report import markdown_table
from eval.scoring import paired_test
from svae_tts.errors import SvaeError
from svae_tts.fileio import atomic_write_json, atomic_write_text, claim_report_dir, guard_output

log = logging.getLogger(__name__)

CONDITIONS = ("own", "other")


def _dataset(model, data: str | os.PathLike, split: str, items: int):
    """The model's own view of the first ``items`` rows of ``data``'s split: its feature space, its
    text input (only those rows are normalised and phonemised)."""
    from tts_recipes.data import AudioTTSDataset, LatentTTSDataset
    from svae_tts.formats.corpus import load_corpus
    from svae_tts.formats.latent_set import load_latent_set

    space = model.load_feature_space()
    text_input, voice = model.config.text_input, model.config.phoneme_voice
    if space.kind == "latent":
        ls = load_latent_set(data)
        if split not in ls.dataset:
            raise EvalError(f"{data}: latent set has no {split!r} split")
        shift = ((ls.mean - space.mean).abs() / space.std).max().item()
        ratio = (ls.std / space.std)
        if shift > 0.5 or ratio.min().item() < 0.5 or ratio.max().item() > 2:
            log.warning("%s: its latent statistics are far from the ones the model was trained with "
                        "(made with another VAE?); the losses may mean little", data)
        rows = ls.dataset[split]
        return LatentTTSDataset.from_split(rows.select(range(min(items, len(rows)))), space,
                                           text_input=text_input, voice=voice)
    dsd = load_corpus(data)
    if split not in dsd:
        raise EvalError(f"{data}: corpus has no {split!r} split")
    rows = dsd[split]
    return AudioTTSDataset(rows.select(range(min(items, len(rows)))), space, text_input=text_input, voice=voice)


@torch.no_grad()
def text_reliance(model_dir: str | os.PathLike, data: str | os.PathLike, split: str = "test", items: int = 48,
                  context: float = 0.3, seed: int = 0, device: str = "cpu") -> dict:
    """Per-item losses under each condition and their summary (see the module docstring).

    ``data`` is the latent set a latent model was trained on (or one like it), or a corpus for a
    mel model. The first ``context`` of each item stays visible, the rest is masked, as in
    synthesis from a prompt.
    """
    from tts_recipes.model import TTSModel

    if not 0 <= context < 1:
        raise EvalError(f"context must be in [0, 1), got {context}")
    try:
        model = TTSModel.from_pretrained(model_dir).to(device).eval()
        ds = _dataset(model, data, split, items)
    except SvaeError as exc:
        raise EvalError(f"text reliance: {exc}") from None
    n = min(items, len(ds))
    if n < 2:
        raise EvalError(f"{data}: {len(ds)} usable item(s) among the first {items} of the {split!r} split; "
                        "the test needs at least 2")
    rows_in = [ds[i] for i in range(n)]
    dit = model.cfm.transformer
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i, item in enumerate(rows_in):
        x1 = item["feats"][None].to(device)
        frames = x1.shape[1]
        masked = torch.zeros(1, frames, dtype=torch.bool, device=device)
        masked[:, int(frames * context):] = True
        cond = torch.where(masked[..., None], torch.zeros_like(x1), x1)
        x0 = torch.randn(x1.shape, generator=gen).to(device)
        t = (torch.rand(1, generator=gen) * 0.8 + 0.1).to(device)  # away from the ends, where text matters least
        phi = (1 - t) * x0 + t * x1
        flow = x1 - x0
        row = {"id": item["id"]}
        texts = {"own": item["text"], "other": rows_in[(i + 1) % n]["text"]}
        for cond_name in CONDITIONS:
            ids = model.vocab.encode([texts[cond_name]], warn=False)[:, :frames].to(device)
            pred = dit(x=phi, cond=cond, text=ids, time=t)
            row[cond_name] = F.mse_loss(pred[masked], flow[masked]).item()
        rows.append(row)
    means = {c: sum(r[c] for r in rows) / n for c in CONDITIONS}
    test = paired_test([{"id": r["id"], "loss": r["other"]} for r in rows],
                       [{"id": r["id"], "loss": r["own"]} for r in rows], "loss", seed=seed)
    return {"model": str(model_dir), "data": str(data), "split": split, "items": n, "context": context,
            "seed": seed, **means, "gap": means["other"] / means["own"] - 1,
            "p": test["p"] if test else None, "utterances": rows}


def run_text_reliance(models: list[tuple[str, str, str]], out: str | os.PathLike, overwrite: bool = False,
                      **kwargs) -> list[dict]:
    """:func:`text_reliance` of each ``(name, model dir, data)``; ``out/text_reliance.json`` and ``.md``."""
    out = guard_output(out, [p for _, model, data in models for p in (model, data)], overwrite=overwrite, kind="dir",
                       command=RELIANCE_COMMAND, markers=("text_reliance.json",))
    manifest = claim_report_dir(out, RELIANCE_COMMAND, ["text_reliance.json", "text_reliance.md"], overwrite)
    results = [{"name": name, **text_reliance(model, data, **kwargs)} for name, model, data in models]
    atomic_write_json(out / "text_reliance.json", results)
    atomic_write_text(out / "text_reliance.md", "# Text reliance\n\n" + reliance_table(results) + "\n")
    manifest.add(RELIANCE_COMMAND, out / "text_reliance.json", out / "text_reliance.md")
    return results


RELIANCE_COMMAND = "eval text-reliance"  # the command name in the output folder's manifest


def reliance_table(results: list[dict]) -> str:
    """The results as a markdown table, with what its columns mean."""
    table = markdown_table([{**r, "gap %": 100 * r["gap"]} for r in results],
                           ["name", "items", "own", "other", "gap %", "p"])
    return ("Held-out flow-matching loss with each item's own text (own) and the next item's text (other), "
            "with the same noise, time and mask; gap = other / own - 1; p: paired sign-flip test of own "
            "against other over the items (its floor is 1/2000).\n\n" + table)
