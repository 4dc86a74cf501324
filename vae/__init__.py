"""The Semantic-VAE: model, presets, official-checkpoint import and GAN training."""

from vae.config import DecoderConfig, VAEConfig, load_preset, preset_names
from vae.model import SemanticVAE, VAEError, kl_divergence

__all__ = ["SemanticVAE", "VAEConfig", "DecoderConfig", "VAEError", "kl_divergence", "load_preset", "preset_names"]
