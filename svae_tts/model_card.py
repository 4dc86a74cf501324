"""Model cards: the ``README.md`` of a model dir, as the Hugging Face hub shows it.

A model dir alone says little to whoever finds it on the hub or in a run folder: what it is, how it
was made, how to load it. Every export (VAE and TTS trainers), every ``vae import`` and every
``svae-tts push`` of a dir without a card writes one, rendered by :meth:`ModelCard.render` from a
:class:`ModelCard`. What the model *is* comes from the dir's own ``config.json`` and weights file
(:func:`card_for_model_dir`), so an export and a later push describe it alike; what only the stage
knows (steps, seed, data, key settings, metrics) is passed in by the stage as ``training`` and
``metrics``. Facts that are not known are left out rather than guessed.

A card is published, so it names no local path: every path it shows (the corpus, the latent set,
the teacher, the VAE, an import's source) is shown as its last component by :func:`shown_ref`, the
one place this is done; hub ids and release references (``owner/repo[/sub]``) are kept as they are.
:func:`absolute_paths` finds what a card (say a user-written one) still holds, for ``push`` to warn.

A ``README.md`` already in a dir is the user's and is kept unless ``overwrite`` is asked for.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from svae_tts.errors import CheckpointError
from svae_tts.fileio import atomic_write_text
from svae_tts.hub import looks_like_release_ref
from svae_tts.textio import read_json

CARD_NAME = "README.md"
LIBRARY_NAME = "svae-tts"
MODEL_PLACEHOLDER = "MODEL"  # in the usage snippets: this dir's path, or its hub id once pushed


@dataclass
class ModelCard:
    """Everything a card shows; :meth:`render` turns it into Markdown with YAML front matter."""

    title: str
    summary: str
    model: dict[str, str] = field(default_factory=dict)  # "What it is": architecture, dims, rates, parameters
    training: dict[str, str] = field(default_factory=dict)  # "How it was trained"; empty: section left out
    metrics: dict[str, str] = field(default_factory=dict)  # empty: section left out
    usage: list[tuple[str, str]] = field(default_factory=list)  # (language, code) blocks
    tags: list[str] = field(default_factory=list)
    license: str | None = None
    library_name: str = LIBRARY_NAME

    def front_matter(self) -> str:
        """The hub's metadata block; every value is JSON-quoted, which YAML reads as the same string."""
        lines = ["---", f"library_name: {json.dumps(self.library_name)}"]
        if self.license:
            lines.append(f"license: {json.dumps(self.license)}")
        if self.tags:
            lines.append("tags:")
            lines += [f"- {json.dumps(t)}" for t in self.tags]
        return "\n".join(lines + ["---"])

    def render(self) -> str:
        parts = [self.front_matter(), "", f"# {self.title}", "", self.summary, ""]
        for heading, table in (("What it is", self.model), ("How it was trained", self.training),
                               ("Metrics", self.metrics)):
            if table:
                parts += [f"## {heading}", "", "| | |", "|---|---|"]
                parts += [f"| {_cell(k)} | {_cell(v)} |" for k, v in table.items()]
                parts.append("")
        if self.usage:
            parts += ["## How to load it", "",
                      f"`{MODEL_PLACEHOLDER}` below is this folder's path, or its hub id (`owner/name`) once "
                      f"uploaded with `svae-tts push`.", ""]
            for lang, code in self.usage:
                parts += [f"```{lang}", code.strip("\n"), "```", ""]
        return "\n".join(parts)


def _cell(value: Any) -> str:
    """A table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def shown_ref(value: Any) -> Any:
    """What a card shows for a value that may be a local path: its last component (``/data/corpus``
    and ``runs/x/corpus`` -> ``corpus``). A hub id or release reference (``owner/repo[/sub]``) that
    is not a local path is kept, as is anything that is not a string, holds no separator or is a
    sentence (a relative path that does not exist here and has the form ``owner/repo[/sub]`` is
    taken for a hub name)."""
    if not isinstance(value, str) or not value:
        return value
    text = value.strip()
    pathlike = (text.startswith(("/", "~", "./", "../", "\\")) or re.match(r"^[A-Za-z]:[\\/]", text)
                or os.path.exists(text))
    if not pathlike and (looks_like_release_ref(text) or ("/" not in text and "\\" not in text)
                         or any(c.isspace() for c in text)):  # a hub name, a plain word, a sentence
        return value
    last = re.split(r"[\\/]+", text.rstrip("/\\"))[-1]
    return last or value


def expected_vae(feature: Mapping[str, Any]) -> dict[str, str | None] | None:
    """Which VAE a latent TTS model's latents came from, as its ``config.json`` feature entry
    records it: ``{"name": hub id or the local dir's last component, "weights_sha256": the sha256
    of that VAE's model.safetensors, or None where unknown}``; ``None`` for a model not on VAE latents.

    An export records both (``vae_name``, ``vae_weights_sha256``); for a model dir written before,
    they are read from where its decoder was bundled from (``vae_source``) and the hashes of the
    bundled files (``vae_sha256``)."""
    if feature.get("kind") != "latent":
        return None
    name = feature.get("vae_name") or shown_ref(feature.get("vae_source") or feature.get("vae"))
    sha = feature.get("vae_weights_sha256")
    hashes = feature.get("vae_sha256")
    if not sha and isinstance(hashes, Mapping):
        sha = hashes.get("model.safetensors")
    return {"name": str(name) if name else None, "weights_sha256": str(sha) if sha else None}


# config.json values that name a model or a folder: shown through shown_ref
_REF_KEYS = ("teacher", "source")
_FEATURE_REF_KEYS = ("vae", "vae_source", "vocos", "vocos_source")

# an absolute path in a card's text: /x... or ~/x... after a space, a table bar, a quote, a bracket or
# the line's start (so not a URL's //, "frames/s" or "encoder / decoder"), or a drive letter's C:\
_ABSOLUTE = re.compile(r"(?:(?<=^)|(?<=[\s|`\"'(\[=,]))(~?/[^\s/|`\"'()<>\[\]][^\s|`\"'()<>\[\]]*"
                       r"|[A-Za-z]:\\[^\s|`\"'()<>]+)", re.M)


def absolute_paths(text: str) -> list[tuple[int, str]]:
    """``(line number, path)`` of each absolute local path in ``text`` (a card), in order."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _ABSOLUTE.finditer(text)]


def card_facts(text: str) -> dict[str, dict[str, str]] | None:
    """The ``training``, ``metrics`` and ``license`` a card rendered by :meth:`ModelCard.render`
    shows, read back from its text (so a card can be rendered again from the facts it was written
    with); ``None`` for a card that is not ours (no ``library_name: "svae-tts"`` front matter)."""
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m or f"library_name: {json.dumps(LIBRARY_NAME)}" not in m.group(1).splitlines():
        return None
    lic = re.search(r"^license: (.*)$", m.group(1), re.M)
    facts: dict[str, Any] = {"training": {}, "metrics": {}, "license": None}
    if lic:
        try:
            facts["license"] = json.loads(lic.group(1))
        except ValueError:
            facts["license"] = lic.group(1).strip()
    section = None
    for line in text[m.end():].splitlines():
        if line.startswith("## "):
            section = {"## How it was trained": "training", "## Metrics": "metrics"}.get(line.strip())
        elif section and line.startswith("| ") and line not in ("| | |",):
            cells = [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 2 and cells[0]:
                facts[section][cells[0]] = cells[1]
    return facts


def count_parameters(weights: str | os.PathLike) -> int | None:
    """Values in a safetensors file, from its header alone (``safe_open`` maps the file; no tensor
    is read); ``None`` when it is missing or not safetensors."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except (OSError, SafetensorError):
        return None


def _millions(n: int | None) -> str | None:
    return None if n is None else f"{n / 1e6:.2f} M" if n >= 10_000 else f"{n:,}"


def _vae_facts(cfg: Mapping[str, Any]) -> tuple[str, str, dict[str, Any], list[tuple[str, str]], list[str]]:
    rates = cfg.get("encoder_rates") or []
    hop = math.prod(rates) if rates else None
    sr = cfg.get("sample_rate")
    semantic = bool(cfg.get("semantic"))
    teacher = cfg.get("teacher")
    kind = "Semantic-VAE" if semantic else "acoustic VAE"
    summary = (f"A speech {kind} (the Semantic-VAE design, [arXiv 2509.22167](https://arxiv.org/abs/2509.22167)) "
               f"in svae-tts's model-dir format: "
               f"waveform in, {cfg.get('latent_dim')}-dim Gaussian latents out, and back"
               + (f"; its latents were aligned during training with {teacher}'s features." if semantic and teacher
                  else "; trained without the semantic alignment loss." if not semantic else "."))
    facts = {
        "preset / name": cfg.get("name"),
        "encoder / decoder": f"{cfg.get('encoder_type', 'waveform')} / {cfg.get('decoder_type', 'bigvgan')}",
        "latent dim": cfg.get("latent_dim"),
        "sample rate": f"{sr} Hz" if sr else None,
        "latent rate": f"{sr / hop:g} frames/s (hop {hop})" if sr and hop else None,
        "semantic alignment": (f"{teacher}, layer {cfg.get('teacher_layer')}" if semantic and teacher
                               else "yes" if semantic else "no"),
    }
    usage = [("bash", f"svae-tts vae reconstruct speech.wav -m {MODEL_PLACEHOLDER} -o recon/\n"
                      f"svae-tts data latents --corpus data/corpus -m {MODEL_PLACEHOLDER} -o data/latents"),
             ("python", "from vae.load import load_vae\n\n"
                        f"vae = load_vae(\"{MODEL_PLACEHOLDER}\", device=\"auto\")\n"
                        "latents = vae.encode_clips([wav])[0]  # wav: 1-D float tensor at vae.sample_rate\n"
                        "audio = vae.decode(latents[None])")]
    tags = ["audio", "speech", "vae", "semantic-vae" if semantic else "acoustic-vae"]
    return f"{kind}: {cfg.get('name')}", summary, facts, usage, tags


def _tts_facts(cfg: Mapping[str, Any]) -> tuple[str, str, dict[str, Any], list[tuple[str, str]], list[str]]:
    dit = cfg.get("dit") or {}
    feature = cfg.get("feature") or {}
    if feature.get("kind") == "latent":
        space = f"VAE latents, {feature.get('dim')}-dim, of {feature.get('vae_source') or feature.get('vae')}"
    elif feature.get("kind") == "mel":
        space = f"mel ({feature.get('dim')} bins), vocoded by {feature.get('vocos_source') or feature.get('vocos')}"
    else:
        space = str(feature.get("kind"))
    vae = expected_vae(feature)
    text_input = cfg.get("text_input", "characters")
    summary = ("Zero-shot text-to-speech: F5-TTS's flow-matching DiT (CFM) trained with "
               f"svae-tts on {space}. Given a reference recording and its "
               "transcript it speaks new text in that voice. "
               + ("The decoder it needs is in this folder." if any(k.endswith("_sha256") for k in feature)
                  else "It loads the decoder named above."))
    facts = {
        "DiT": f"dim {dit.get('dim')}, depth {dit.get('depth')}, heads {dit.get('heads')}, ff x{dit.get('ff_mult')}, "
               f"text dim {dit.get('text_dim')}",
        "text alignment": "averaged over the frames" if dit.get("text_average_upsampling") else "filler padding (F5-TTS)",
        "feature space": space,
        "VAE": vae and vae["name"],
        "VAE weights sha256": vae and (vae["weights_sha256"] or "not recorded"),
        "text input": (f"eSpeak phonemes ({cfg.get('phoneme_voice')})" if text_input == "phonemes" else text_input),
        "vocabulary": f"{len(cfg.get('vocab') or [])} symbols",
    }
    usage = [("bash", f"svae-tts synthesize --model {MODEL_PLACEHOLDER} --ref-audio ref.wav --ref-text \"What ref.wav "
                      "says.\" \\\n    --text \"Text to say in that voice.\" -o out.wav --nfe 32 --seed 0"),
             ("python", "from tts_recipes.synthesis import Synthesizer\n\n"
                        f"synth = Synthesizer.from_pretrained(\"{MODEL_PLACEHOLDER}\", device=\"auto\")\n"
                        "wav = synth.synthesize(\"Text to say.\", \"ref.wav\", \"What ref.wav says.\")")]
    tags = ["audio", "speech", "text-to-speech", "f5-tts", "flow-matching",
            "latent-tts" if feature.get("kind") == "latent" else "mel-tts"]
    return "TTS: F5-TTS DiT on " + ("VAE latents" if feature.get("kind") == "latent" else "mel"), summary, facts, usage, tags


DESCRIBERS = {"svae_tts.vae": _vae_facts, "svae_tts.tts": _tts_facts}


def card_for_model_dir(directory: str | os.PathLike, training: Mapping[str, Any] | None = None,
                       metrics: Mapping[str, Any] | None = None, license: str | None = None) -> ModelCard:
    """The card of the model dir ``directory`` (its config.json says what it is), with the stage's
    ``training`` facts and ``metrics`` (``None`` values are left out)."""
    directory = Path(directory)
    path = directory / "config.json"
    cfg = read_json(path, dict, error=CheckpointError)
    kind = cfg.get("model_kind")
    if kind not in DESCRIBERS:
        raise CheckpointError(f"{path}: not an svae-tts model dir (model_kind {kind!r})")
    cfg = {**cfg, **{k: shown_ref(cfg[k]) for k in _REF_KEYS if k in cfg}}
    if isinstance(cfg.get("feature"), dict):
        cfg["feature"] = {**cfg["feature"], **{k: shown_ref(cfg["feature"][k])
                                               for k in _FEATURE_REF_KEYS if k in cfg["feature"]}}
    title, summary, facts, usage, tags = DESCRIBERS[kind](cfg)
    facts["parameters"] = _millions(count_parameters(directory / "model.safetensors"))
    provenance = {k: cfg.get(k) for k in ("source", "source_weights") if cfg.get(k)}
    training = {k: shown_ref(v) for k, v in {**provenance, **(training or {})}.items()}

    def clean(d: Mapping[str, Any]) -> dict[str, str]:
        return {k: (f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in d.items() if v not in (None, "")}

    return ModelCard(title=title, summary=summary, model=clean(facts), training=clean(training),
                     metrics=clean(metrics or {}), usage=usage, tags=tags, license=license)


def write_model_card(directory: str | os.PathLike, training: Mapping[str, Any] | None = None,
                     metrics: Mapping[str, Any] | None = None, license: str | None = None,
                     overwrite: bool = False) -> Path | None:
    """Write ``directory/README.md`` (atomically) unless one is there and ``overwrite`` is not asked:
    returns its path, or ``None`` when an existing card was kept."""
    path = Path(directory) / CARD_NAME
    if path.exists() and not overwrite:
        return None
    atomic_write_text(path, card_for_model_dir(directory, training, metrics, license).render())
    return path


__all__ = ["ModelCard", "CARD_NAME", "card_for_model_dir", "expected_vae", "write_model_card", "count_parameters", "shown_ref",
           "absolute_paths", "card_facts"]
