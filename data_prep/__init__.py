"""Data preparation: corpora as Hugging Face datasets, the embedded eSpeak corpus, teacher features, VAE latents.

Commands (each a Python function first):

- ``svae-tts data build {libritts,csv,hf} SRC --out DIR`` → :func:`data_prep.builders.build_libritts`,
  ``build_csv``, ``build_hf``; read back with :func:`svae_tts.formats.corpus.load_corpus`.
- ``svae-tts data espeak --out DIR --hours H --voices V`` → :func:`data_prep.espeak_corpus.build_espeak_corpus`.
- ``svae-tts data features --corpus DIR --model ID_OR_DIR --layer L --out DIR`` →
  :func:`data_prep.features.extract_features`; read with :class:`svae_tts.formats.teacher_features.FeatureStore`.
- ``svae-tts data train-ctc --corpus DIR --out DIR`` → :func:`data_prep.ctc.train_ctc`; decode with
  :func:`data_prep.ctc.transcribe`.
- ``svae-tts data latents --corpus DIR --model DIR --out DIR`` → :func:`data_prep.latents.extract_latents`;
  read with :func:`svae_tts.formats.latent_set.load_latent_set`.

This package imports nothing heavy at import time: eSpeak workers are spawned processes that only
need :mod:`data_prep.espeak`.
"""
