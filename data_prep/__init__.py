"""Data preparation: corpora as Hugging Face datasets, the embedded eSpeak corpus, teacher features, VAE latents."""
