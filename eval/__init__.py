"""Evaluation: reconstruction and TTS metrics, the convergence comparison and the latent probe."""
