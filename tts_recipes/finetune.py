"""Fine-tuning (issue #16): a TTS run that starts from an exported TTS model instead of random weights.

``init_from=DIR_OR_HUB_ID`` in the TTS train config. What the run takes from that *base* model and
what starts afresh:

- **kept**: every weight (an export holds the EMA weights, the ones synthesis uses), the DiT
  architecture (read from the base's config; a run's own ``model`` section may only agree with it
  or leave a field out, see :func:`merge_architecture`), the text layout (text input, phoneme voice,
  text averaging: :func:`check_layout`), the feature space and its latent normalisation statistics
  (:func:`match_feature_space`), and every symbol of the vocabulary with its id;
- **added**: one text-embedding row per symbol of the new data that the base lacks, after the old
  ones (:func:`extend_vocabulary`, :func:`init_weights`), so new voices in new alphabets can be taught;
- **fresh**: the optimiser state, the LR schedule (warm-up again: Adam's moments of the base run
  are not in an export, and its decayed LR would leave nothing to fine-tune with), the step counter
  (0), the sampler; the EMA starts as a copy of the loaded weights.

A resumed fine-tuning run resumes from its own checkpoint and never reads ``init_from`` again (the
base may have been moved or be offline): what it needs from the base (architecture, statistics,
layout) is written to the run dir at the start, in ``finetune.json`` (:func:`write_record`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import torch

from svae_tts.checkpoint import WEIGHTS_NAME, compare_state_dicts
from svae_tts.hub import is_hub_id
from svae_tts.config import from_dict, to_dict
from svae_tts.errors import CheckpointError, ConfigError, SvaeError, exc_summary
from svae_tts.fileio import atomic_write_json
from tts_recipes.decoder_bundle import file_sha256
from tts_recipes.feature_space import FeatureSpace
from tts_recipes.model import DiTConfig, TTSConfig, TTSModel
from tts_recipes.text import UNK_ID, Vocabulary

log = logging.getLogger(__name__)

RECORD_NAME = "finetune.json"
# DiT fields a fine-tuning run sets for itself: they shape no weight and mean nothing to the loaded
# ones (dropout is a training regulariser; a small new data set may want more of it than the base).
RUN_OWN_FIELDS = ("dropout",)
# The text embedding inside f5_tts's DiT: ``nn.Embedding(V + 1, text_dim)``. Its row 0 is F5-TTS's
# filler (text padded to the frame count, and the whole text when it is dropped for classifier-free
# guidance); vocabulary id i sits at row i + 1 (``TextEmbedding.forward`` adds 1). Our id 0 is
# ``<unk>``, which a model's own training texts never hold (its vocabulary is built from them), so
# rows 2.. are the symbols the base really learned.
TEXT_EMBEDDING = "cfm.transformer.text_embed.text_embed.weight"
FILLER_ROWS = 1
FIRST_LEARNED_ROW = FILLER_ROWS + UNK_ID + 1
# How the text layout keys are spelled in the TTS train config.
LAYOUT_KEYS = {"text_input": "data.text_input", "phoneme_voice": "data.phoneme_voice",
               "text_average_upsampling": "model.text_average_upsampling"}


@dataclass
class StartPoint:
    """What a fine-tuning run takes from its base model."""

    ref: str  # init_from as given (a dir or a hub id)
    config: TTSConfig  # the base's architecture, feature space (with statistics), vocabulary and text layout
    model: Optional[TTSModel] = None  # its weights; None when the run resumes (its checkpoint holds them)

    @property
    def source(self) -> str:
        return f"init_from {self.ref}"


def start_point(init_from: Optional[str], run_dir: Path, resuming: bool) -> Optional[StartPoint]:
    """The base of this run: loaded from ``init_from`` when a run starts, read back from the run
    dir's record when it resumes (None for a run from scratch).

    A run that started from scratch is not turned into a fine-tune on resume: its checkpoint's
    weights would silently win over ``init_from``, which the user asked for, so that is refused."""
    record = Path(run_dir) / RECORD_NAME
    if resuming:
        if record.is_file():
            start = read_record(record)
            if init_from and str(init_from) != start.ref:
                log.warning("%s: resuming a fine-tune of %s from its own checkpoint; init_from=%s is not read",
                            run_dir, start.ref, init_from)
            return start
        if init_from:
            raise ConfigError(f"{run_dir}: this run started from scratch and resumes from its checkpoint; init_from "
                              "applies only when a run starts (drop it to resume, or overwrite=true / another run_dir)")
        return None
    if not init_from:
        return None
    try:  # a run dir is named as one, with its newest export (svae_tts.model_kinds)
        model = TTSModel.from_pretrained(init_from)
    except SvaeError as exc:
        raise CheckpointError(f"init_from: {exc}") from None
    return StartPoint(str(init_from), model.config, model)


def write_record(run_dir: Path, start: StartPoint) -> None:
    """``finetune.json``: the base's name and config (architecture, feature space, vocabulary,
    layout), everything a resume needs from the base without opening it."""
    atomic_write_json(Path(run_dir) / RECORD_NAME, {"init_from": start.ref, "base": to_dict(start.config)})


def read_record(path: Path) -> StartPoint:
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        return StartPoint(str(saved["init_from"]), from_dict(TTSConfig, saved["base"], where=str(path)))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, SvaeError) as exc:
        raise CheckpointError(f"{path}: not a fine-tuning record this run can resume with "
                              f"({exc_summary(exc, 120)})") from None


# -- what must match ------------------------------------------------------------------------------
def merge_architecture(run: DiTConfig, base: DiTConfig, source: str) -> DiTConfig:
    """The base's DiT with the run's own training-only fields (:data:`RUN_OWN_FIELDS`).

    A run's ``model`` field that differs from the base's is refused unless it holds
    :class:`DiTConfig`'s default, which is what a config that leaves the field out holds (a typed
    config cannot tell the two apart; writing a default value that conflicts therefore reads as
    "left out"). So a fine-tune run uses the preset the base was trained with, or none."""
    default = DiTConfig()
    conflicts = [f.name for f in dataclasses.fields(DiTConfig) if f.name not in RUN_OWN_FIELDS
                 and getattr(run, f.name) != getattr(base, f.name) and getattr(run, f.name) != getattr(default, f.name)]
    if conflicts:
        ours = ", ".join(f"model.{k}={getattr(run, k)!r}" for k in conflicts)
        theirs = ", ".join(f"{k}={getattr(base, k)!r}" for k in conflicts)
        raise ConfigError(f"{source}: this run sets {ours} but the base model has {theirs}; "
                          "a fine-tune keeps the base's architecture (leave these out or match them)")
    return dataclasses.replace(base, **{k: getattr(run, k) for k in RUN_OWN_FIELDS})


def base_layout(base: TTSConfig) -> dict:
    """The base's text layout, keyed as ``tts_recipes.train.text_layout`` keys a run's."""
    return {"text_input": base.text_input, "phoneme_voice": base.phoneme_voice,
            "text_average_upsampling": base.dit.text_average_upsampling}


def check_layout(base: TTSConfig, layout: dict, source: str) -> None:
    """The run must read text as the base does: the old embedding rows mean those symbols laid over
    the frames that way. The phoneme voice only counts for a phoneme model (a character model
    never runs eSpeak)."""
    theirs = base_layout(base)
    keys = [k for k in LAYOUT_KEYS if k != "phoneme_voice" or theirs["text_input"] == "phonemes"]
    for k in keys:
        if layout.get(k) != theirs[k]:
            raise ConfigError(f"{source}: the base model was trained with {LAYOUT_KEYS[k]}={theirs[k]!r}, this run "
                              f"has {layout.get(k)!r}; a fine-tune keeps the base's text layout")


def _vae_identity(feature: dict, local_dir: Optional[str] = None) -> Optional[str]:
    """A VAE's identity: the sha256 of its weights (read from ``local_dir``, or as an export records
    its bundled VAE), else its hub id; None when neither is known."""
    if local_dir is not None:
        return file_sha256(Path(local_dir) / WEIGHTS_NAME)
    hashes = feature.get("vae_sha256")
    if isinstance(hashes, dict) and WEIGHTS_NAME in hashes:
        return str(hashes[WEIGHTS_NAME])
    ref = str(feature.get("vae") or "")
    return ref if is_hub_id(ref) else None


def match_feature_space(base_feature: dict, space: FeatureSpace, source: str) -> None:
    """Refuse data in another feature space than the base's, and normalise latents as the base did.

    Compared: mel or latent, the dim, frame rate, sample rate and hop, the mel settings, and for
    latents the VAE itself (the sha256 of its weights, which an export records for its bundled VAE;
    a hub id by name): another VAE's latents of the same shape mean something else to the model.
    The base's latent mean/std replace the run's latent set's: the model's inputs and outputs are
    in the base's normalised space, and a new voice's own statistics would move its mean to zero,
    erasing part of what makes it that voice (and a small set estimates them poorly)."""
    run = space.to_config()
    kind = base_feature.get("kind")
    if kind != run["kind"]:
        raise ConfigError(f"{source}: the base model was trained on {kind} features, this run's data are "
                          f"{run['kind']} features; fine-tune on the base's feature space")
    keys = ["dim", "frame_rate", "sample_rate", "hop_length"] + (["mel"] if kind == "mel" else ["padding"])
    differ = [k for k in keys if k in base_feature and base_feature[k] != run[k]]
    if differ:
        shown = ", ".join(f"{k} {base_feature[k]!r} vs {run[k]!r}" for k in differ)
        raise ConfigError(f"{source}: the base model's {kind} features differ from this run's data ({shown}); "
                          "fine-tune on data in the base's feature space")
    if kind != "latent":
        return
    ours = _vae_identity(run, space.vae_ref if Path(space.vae_ref).is_dir() else None)
    theirs = _vae_identity(base_feature)
    if ours is None or theirs is None or is_hub_id(ours) != is_hub_id(theirs):
        log.warning("%s: cannot tell whether VAE %s is the one the base model was trained with; the dim and "
                    "rates match", source, space.vae_ref)
    elif ours != theirs:
        raise ConfigError(f"{source}: the base model was trained on another VAE's latents than {space.vae_ref} "
                          f"(weights {theirs[:12]}... vs {ours[:12]}...); encode the data with the base's VAE "
                          "(the model dir's vae/ folder)")
    space.mean = torch.as_tensor(base_feature["mean"], dtype=torch.float32)
    space.std = torch.as_tensor(base_feature["std"], dtype=torch.float32)


# -- vocabulary and weights -----------------------------------------------------------------------
def extend_vocabulary(base: Vocabulary, texts: Iterable[str]) -> Vocabulary:
    """The base's symbols, ids unchanged, then the symbols of ``texts`` it lacks, sorted (the order
    a repeated run rebuilds identically; a resumed one reads it back from its vocab.json)."""
    new = [c for c in Vocabulary.build(texts).chars[1:] if c not in base.index]
    return Vocabulary(base.chars + new)


def init_weights(model: TTSModel, base: TTSModel) -> None:
    """Load ``base``'s weights into ``model`` (same architecture, vocabulary extended at the end).

    Old text-embedding rows (F5-TTS's filler row and one per base symbol) are copied bit for bit;
    each new symbol's row starts at the mean of the rows the base learned (its symbols, not the
    filler, whose job is "no text here", nor ``<unk>``, never trained). A mean row sits where the
    text encoder has learned to work and favours no existing symbol, so a new character first reads
    as "some character" and its gradients move it from there; a fresh random row (the embedding's
    own N(0, 1) init) would be an input the trained ConvNeXt and attention layers have never seen."""
    old_chars, new_chars = base.vocab.chars, model.vocab.chars
    if new_chars[: len(old_chars)] != old_chars:
        raise ValueError("the model's vocabulary does not start with the base's")  # a bug, not user input
    own = model.state_dict()
    src = base.state_dict()
    width = own[TEXT_EMBEDDING].shape[1]
    expected = {k: tuple(v.shape) for k, v in own.items()}
    expected[TEXT_EMBEDDING] = (len(old_chars) + FILLER_ROWS, width)
    compare_state_dicts(expected, src, "init_from")
    old = src[TEXT_EMBEDDING]
    rows = old.new_empty(len(new_chars) + FILLER_ROWS, width)
    rows[: old.shape[0]] = old
    learned = old[FIRST_LEARNED_ROW:] if old.shape[0] > FIRST_LEARNED_ROW else old
    rows[old.shape[0]:] = learned.mean(0)
    model.load_state_dict({**src, TEXT_EMBEDDING: rows}, strict=True)
