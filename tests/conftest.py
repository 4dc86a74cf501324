import os

import pytest
import torch

# Tiny models gain nothing from intra-op threads and two CI cores are shared: one thread is fastest.
torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache in tmp, offline (fill it with shared_fixtures.put_in_hub_cache),
    and an empty svae-tts cache: hub ids resolve through huggingface_hub's real cache lookup, never
    the network. huggingface_hub reads HF_HUB_CACHE / HF_HUB_OFFLINE into its constants at import,
    so those are set as well as the environment."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf_home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SVAE_TTS_CACHE", str(tmp_path / "svae_cache"))
    monkeypatch.setattr(hf_constants, "HF_HOME", str(cache.parent))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return cache
