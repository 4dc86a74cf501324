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


def write_tone_list(folder: Path, count: int, sr: int = 16000) -> Path:
    """``count`` short tones (0.3 s, 0.4 s, ...) by two speakers and the CSV that lists them."""
    import numpy as np
    import soundfile as sf

    lines = ["path,text,speaker"]
    for k in range(count):
        t = np.arange(int((0.3 + 0.1 * k) * sr)) / sr
        sf.write(folder / f"u{k}.wav", (0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t)).astype(np.float32), sr)
        lines.append(f"u{k}.wav,sentence number {k},s{k % 2}")
    (folder / "list.csv").write_text("\n".join(lines) + "\n")
    return folder / "list.csv"
