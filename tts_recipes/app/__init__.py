"""``svae-tts app``: a Gradio page over the synthesis and VAE code, for listening to trained models.

Small modules, so each part can be read and tested alone: :mod:`.models` finds model dirs under a
runs folder and keeps loaded models in a cache, :mod:`.pictures` draws the figures,
:mod:`.handlers` holds what each tab does as plain Python functions (unit-tested without a
browser), :mod:`.layout` lays the page out and turns their errors into one-line messages, and
:mod:`.cli` registers the command. Gradio is imported only by ``layout`` and ``handlers``' error
conversion, so the rest loads without it.
"""
