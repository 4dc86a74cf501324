"""TTS on VAE latents (and mel as the baseline): F5-TTS flow matching, training and zero-shot synthesis."""
