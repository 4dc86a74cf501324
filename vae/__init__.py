"""The Semantic-VAE: model, presets, official-checkpoint import and GAN training."""

from vae.config import DecoderConfig, VAEConfig, load_preset, preset_names
from vae.load import load_vae
from vae.model import SemanticVAE, VAEError, kl_divergence

__all__ = ["SemanticVAE", "VAEConfig", "DecoderConfig", "VAEError", "kl_divergence", "load_vae", "load_preset", "preset_names"]
