"""Shared tiny data/models for the tts tests (built once per test module, seconds on CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def build_assets(root: Path, n_train: int = 6, n_test: int = 2) -> dict:
    from tests.shared_fixtures import make_corpus, make_latent_set
    from vae import SemanticVAE

    torch.manual_seed(0)
    vae = SemanticVAE.from_preset("tiny")
    vae_dir = vae.save_pretrained(root / "vae")
    corpus_dir, dsd = make_corpus(root / "data", n_train, n_test)
    latents = make_latent_set(root / "latents", dsd, vae, str(vae_dir))
    return {"vae_dir": vae_dir, "corpus": corpus_dir, "latents": latents, "dsd": dsd,
            "ref_wav": Path(dsd["test"][0]["audio"]), "ref_text": dsd["test"][0]["text"]}


def tiny_cfg(run_dir: Path, latents: Path, *overrides: str):
    from tts_recipes.train import load_train_config

    return load_train_config("tiny", [f"run_dir={run_dir}", f"data.latent_set={latents}", "log_every=0", *overrides])


def loss_list(result: dict) -> list[float]:
    return [result["losses"][k] for k in sorted(result["losses"])]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """On a shared 2-core machine two intra-op threads make these tiny models ~20x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def build_runs(root: Path, arms: tuple[str, ...] = ("semantic", "acoustic"), steps: int = 2) -> dict:
    """A runs folder laid out like ``runs/demo``: ``tts_<arm>/exports/step_*`` for each arm (same
    data, another seed each, so their outputs differ) and ``vae_<arm>/exports/step_*``; the assets
    of :func:`build_assets` come along."""
    from tests.shared_fixtures import save_tiny_vae
    from tts_recipes.train import train

    assets = build_assets(root)
    runs = root / "runs"
    models = {}
    for seed, arm in enumerate(arms):
        train(tiny_cfg(runs / f"tts_{arm}", assets["latents"], f"max_steps={steps}", "save_every=0", f"seed={seed}"))
        models[arm] = runs / f"tts_{arm}" / "exports" / f"step_{steps:08d}"
    assets.update(runs=runs, tts=models, vae=save_tiny_vae(runs / f"vae_{arms[0]}" / "exports" / "step_00000010"))
    return assets
