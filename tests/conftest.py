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
