"""Small builders several test files share (fixtures stay in the files; these make what they return)."""

from pathlib import Path

import torch


class PlantedCode:
    """Unpickling this creates ``marker``: stands for any code a hostile pickle would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def save_tiny_wavlm(d: Path, hidden: int = 24, layers: int = 2, conv: int = 16) -> Path:
    """A randomly initialised WavLM (seed 0) with its feature extractor: a real teacher, tiny."""
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    torch.manual_seed(0)
    cfg = WavLMConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                      conv_dim=(conv,) * 3, conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                      num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                      do_stable_layer_norm=True, num_buckets=16, max_bucket_distance=64)
    WavLMModel(cfg).eval().save_pretrained(str(d))
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(str(d))
    return d


def save_tiny_vae(d: Path) -> Path:
    """The tiny VAE preset with seed-0 weights, saved as a model dir."""
    from vae import SemanticVAE

    torch.manual_seed(0)
    SemanticVAE.from_preset("tiny").save_pretrained(d)
    return d
