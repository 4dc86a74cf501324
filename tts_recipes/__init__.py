"""TTS on VAE latents (and mel as the baseline): F5-TTS flow matching, training and zero-shot synthesis.

- ``tts_recipes.feature_space``: ``FeatureSpace`` with ``LatentFeatureSpace`` (any of our VAEs, per-channel
  normalised with the latent set's statistics) and ``MelFeatureSpace`` (F5-TTS's 24 kHz / 100-bin /
  hop-256 log-mel + Vocos from a dir or hub id).
- ``tts_recipes.model``: ``TTSModel`` = ``f5_tts.model.CFM`` + ``DiT`` with ``mel_dim`` = feature dim;
  a model dir records the feature space and holds its decoder (``vae/``, or ``vocos/`` for a local
  Vocos; a hub id stays a name), so it works from anywhere after a copy or upload, and the character
  vocabulary (id 0 = ``<unk>``; unknown characters warn).
- ``tts_recipes.train``: ``train(cfg)`` / ``accelerate launch -m svae_tts tts train --config tiny|small|base ...``.
- ``tts_recipes.synthesis``: ``Synthesizer.from_pretrained(dir).synthesize(text, ref_audio, ref_text, ...)``;
  CLI ``svae-tts synthesize``.
"""
