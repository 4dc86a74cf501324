"""The Semantic-VAE: model, presets, official-checkpoint import and GAN training."""
