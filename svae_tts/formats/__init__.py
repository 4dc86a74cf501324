"""The artefacts that cross stages, one reader and one writer each.

- :mod:`svae_tts.formats.corpus`: a corpus dir (``datasets`` saved to disk, info, skipped report).
- :mod:`svae_tts.formats.shards`: safetensors shards keyed by utterance id.
- :mod:`svae_tts.formats.teacher_features`: the teacher-feature store VAE training reads.
- :mod:`svae_tts.formats.latent_set`: the latent set TTS training, the probe and the demo read.

Model dirs are :mod:`svae_tts.checkpoint`, training run dirs :mod:`svae_tts.run_state`. They live
in the shared core because each is written by one stage and read by later ones: a later stage
importing the writer's stage to read it would turn the one-way flow into a cycle.
"""
