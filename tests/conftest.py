import os

import pytest
import torch

# Two CPU cores are shared by everything on the CI machine: keep torch from oversubscribing.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
