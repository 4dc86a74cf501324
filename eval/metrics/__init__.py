"""Metrics: text (WER/CER), signal (PESQ, STOI, SI-SDR, mel distance), speaker, quality, ASR backends.

Each backend that needs a model loads it once per process (see the ``get_*`` factories) so scoring
a test list never reloads weights per utterance.
"""
