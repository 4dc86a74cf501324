"""What each tab of the page does, as plain Python functions: page values in, page values out.

They are called by Gradio (see :mod:`.layout`) and directly by tests and scripts. Every number is
checked with the same parsers the ``svae-tts synthesize`` options use, so any request the page
runs is also a valid command line, and that command line is returned with the result: a sound
heard on the page can be made again from the CLI. Errors a user can cause leave as ``gr.Error``
with one line (the :class:`SvaeError` message), which Gradio shows in the page while the server
goes on serving; anything else is a bug, logged with its traceback and also shown as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import shlex
import threading
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import numpy as np
import torch

from svae_tts.audio import load_audio
from svae_tts.cli import float_arg, int_arg, nonneg_float, seed_int
from svae_tts.errors import AudioError, SvaeError, exc_summary
from tts_recipes.app.models import TTS_KIND, VAE_KIND, ModelCache, Offered, canonical
from tts_recipes.app.pictures import audio_picture, latent_picture, spectrogram_picture
from tts_recipes.cli import MAX_NFE, SPEED_RANGE
from tts_recipes.errors import TTSError

log = logging.getLogger(__name__)

MAX_LINES = 8  # outputs per Synthesize request: one per non-empty line of the text box
HOW_TO_GET_A_MODEL = ("`make demo` trains small ones into runs/demo (then `svae-tts app --runs runs/demo`), or "
                      "train your own with `svae-tts tts train --config tiny data.latent_set=DIR run_dir=runs/NAME`")

F = TypeVar("F", bound=Callable)


def page_errors(func: F) -> F:
    """Turn what ``func`` raises into ``gr.Error`` with one line, the way the CLI prints errors."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import gradio as gr

        try:
            return func(*args, **kwargs)
        except gr.Error:
            raise
        except SvaeError as exc:
            raise gr.Error(" ".join(str(exc).split()), print_exception=False) from None
        except Exception as exc:  # a bug: the traceback goes to the server log, the page gets one line
            log.exception("%s failed", func.__name__)
            raise gr.Error(f"unexpected error (details in the server log): {exc_summary(exc, 300)}",
                           print_exception=False) from None

    return wrapper  # type: ignore[return-value]


@dataclass
class AppContext:
    """What every request shares: the device the models run on, the loaded models, and which
    models a request may name: ``offered`` None lets it name any model dir or hub id (a page only
    this machine reaches), else only those listed, whatever a request sends (Gradio's API can be
    called without the page, so the check is here, not only in the page's drop-downs)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cache: ModelCache = field(default_factory=ModelCache)
    offered: Offered | None = None

    def _key(self, kind: str, ref: str) -> tuple[str, str, str]:
        """A loaded model's cache key. The kind is in it because one folder can be asked for as
        either kind (a TTS export typed into Reconstruct): keyed by path alone, the second request
        would get the first's object (a Synthesizer used as a VAE) instead of the loader's own
        one-line kind error."""
        return (kind, canonical(ref), str(self.device))

    def _check_offered(self, kind: str, ref: str, error: type[SvaeError]) -> None:
        why = self.offered.refusal(kind, ref) if self.offered is not None else None
        if why is not None:
            raise error(why)

    def synthesizer(self, ref: str | None):
        """The :class:`Synthesizer` for a TTS model dir or hub id, loaded once per (kind, path, device)."""
        from tts_recipes.synthesis import Synthesizer

        if not ref:
            raise TTSError(f"no TTS model chosen; to get one: {HOW_TO_GET_A_MODEL}")
        self._check_offered(TTS_KIND, ref, TTSError)
        return self.cache.get(self._key(TTS_KIND, ref), _named(ref, lambda: Synthesizer.from_pretrained(ref, device=self.device)))

    def vae(self, ref: str | None):
        """The VAE for a model dir or hub id (``vae.load.load_vae``), loaded once per (kind, path, device)."""
        from vae.load import load_vae
        from vae.model import VAEError

        if not ref:
            raise VAEError("no VAE model chosen: start the app with --vae DIR, or with --runs on a folder holding "
                           "a VAE run (`make demo` makes runs/demo)")
        self._check_offered(VAE_KIND, ref, VAEError)
        return self.cache.get(self._key(VAE_KIND, ref), _named(ref, lambda: load_vae(ref, self.device)))


def _named(ref: str, load: Callable[[], object]) -> Callable[[], object]:
    """``load`` whose error names the model it was loading (some, from deep in a config, do not):
    on the page the message is all the user sees."""

    def run():
        try:
            return load()
        except SvaeError as exc:
            if ref in str(exc):
                raise
            raise type(exc)(f"model {ref}: {exc}") from None

    return run


# -- request values ---------------------------------------------------------------------------------
def _checked(parse: Callable[[str], int | float], flag: str, value) -> int | float:
    """``value`` through the CLI's parser for ``flag``; a whole float (a slider's 8.0) counts as an int."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return parse(str(value))
    except argparse.ArgumentTypeError as exc:
        raise TTSError(f"{flag}: {exc}") from None


_NFE = int_arg(1, MAX_NFE)
_SPEED = float_arg(*SPEED_RANGE)


@dataclass(frozen=True)
class Options:
    nfe: int = 32
    cfg: float = 2.0
    speed: float = 1.0

    @classmethod
    def checked(cls, nfe, cfg, speed) -> "Options":
        return cls(int(_checked(_NFE, "--nfe", nfe)), float(_checked(nonneg_float, "--cfg", cfg)),
                   float(_checked(_SPEED, "--speed", speed)))


def parse_seed(seed) -> int | None:
    """The page's seed box: blank, None or -1 mean "draw one"; anything else must be a CLI seed."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    if isinstance(seed, (int, float)) and seed == -1 or str(seed).strip() == "-1":
        return None
    return int(_checked(seed_int, "--seed", str(seed).strip() if isinstance(seed, str) else seed))


def text_lines(text: str | None) -> list[str]:
    """One utterance per non-empty line (at most ``MAX_LINES``)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise TTSError("text is empty: type what to say, one output per line")
    if len(lines) > MAX_LINES:
        raise TTSError(f"text has {len(lines)} lines; the page makes at most {MAX_LINES} at a time "
                       f"(use `svae-tts synthesize --batch` for more)")
    return lines


def _reference(ref_audio) -> str:
    """The reference's file path (Gradio saves uploads and recordings to files)."""
    if ref_audio is None or (isinstance(ref_audio, str) and not ref_audio.strip()):
        raise AudioError("no reference audio: upload a file or record one")
    return str(ref_audio)


def cli_command(model: str, ref_audio: str, ref_text: str, text: str, opts: Options, seed: int,
                device: torch.device | str, output: str = "out.wav") -> str:
    """The ``svae-tts synthesize`` command line that makes the same sound (same model, reference,
    options, seed and device), quoted for a POSIX shell."""
    return shlex.join(["svae-tts", "synthesize", "--model", str(model), "--ref-audio", str(ref_audio),
                       "--ref-text", ref_text, "--text", text, "-o", output, "--nfe", str(opts.nfe),
                       "--cfg", f"{opts.cfg:g}", "--speed", f"{opts.speed:g}", "--seed", str(seed),
                       "--device", str(device)])


# -- the tabs ---------------------------------------------------------------------------------------
@dataclass
class Take:
    """One synthesised utterance as the page shows it."""

    text: str
    sample_rate: int
    audio: np.ndarray  # float32 (N,) in [-1, 1]
    spectrogram: np.ndarray  # RGB picture
    command: str


class _Notes(logging.Handler):
    """The warnings this thread's synthesis logs (a transcript off its clip's pace, characters the
    model does not know), kept for the page: its visitor does not read the server log. Other
    threads' records are skipped, since Gradio runs requests in parallel on one logger."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _warnings_in_page():
    """Show what ``tts_recipes`` warns about during the block as ``gr.Warning`` notes in the page
    (once each; outside a request Gradio turns them into Python warnings)."""
    import gradio as gr

    notes, logger = _Notes(), logging.getLogger("tts_recipes")
    logger.addHandler(notes)
    try:
        yield
    finally:
        logger.removeHandler(notes)
        for line in dict.fromkeys(notes.lines):
            gr.Warning(line)


def _speak(ctx: AppContext, model: str, ref: str, ref_text: str, lines: list[str], opts: Options,
           seed: int | None) -> tuple[int, list[Take]]:
    """Each line in turn with one seed: ``seed``, or the one the synthesizer drew for the first line
    (its ``last_seed``), so every line of a request, and every model of a comparison, shares it."""
    synth, lock = ctx.synthesizer(model)
    takes = []
    with lock, _warnings_in_page():
        for i, line in enumerate(lines):
            wav = synth.synthesize(line, ref, ref_text, nfe=opts.nfe, cfg_strength=opts.cfg, speed=opts.speed, seed=seed)
            seed = synth.last_seed
            audio = wav.numpy().astype(np.float32)
            out = "out.wav" if len(lines) == 1 else f"out_{i + 1}.wav"
            takes.append(Take(line, synth.sample_rate, audio, spectrogram_picture(audio, synth.sample_rate, line[:60]),
                              cli_command(model, ref, ref_text, line, opts, seed, ctx.device, out)))
    return seed, takes


@page_errors
def synthesize(ctx: AppContext, model: str | None, ref_audio, ref_text: str, text: str, nfe=32, cfg=2.0,
               speed=1.0, seed=None) -> tuple[int, list[Take]]:
    """The Synthesize tab: one take per non-empty line of ``text``, all with one seed; returns that
    seed and the takes (audio at the model's rate, its spectrogram, the equivalent command)."""
    opts = Options.checked(nfe, cfg, speed)
    lines, seed = text_lines(text), parse_seed(seed)
    return _speak(ctx, model, _reference(ref_audio), ref_text or "", lines, opts, seed)


@page_errors
def compare(ctx: AppContext, model_a: str | None, model_b: str | None, ref_audio, ref_text: str, text: str,
            nfe=32, cfg=2.0, speed=1.0, seed=None) -> tuple[int, Take, Take]:
    """The Compare tab: the same text (its lines read as one), reference, options and seed through
    two models, e.g. the semantic and the acoustic arm at one training step."""
    opts = Options.checked(nfe, cfg, speed)
    line = " ".join(text_lines(text))
    ref, seed = _reference(ref_audio), parse_seed(seed)
    if not model_b:
        raise TTSError("choose a second TTS model to compare with")
    ctx.synthesizer(model_b)  # both load before either runs: a bad second model fails fast
    seed, (a,) = _speak(ctx, model_a, ref, ref_text or "", [line], opts, seed)
    seed, (b,) = _speak(ctx, model_b, ref, ref_text or "", [line], opts, seed)
    return seed, a, b


@dataclass
class Reconstruction:
    sample_rate: int
    audio: np.ndarray  # the VAE's output, float32 (N,), as long as the input
    input_picture: np.ndarray
    output_picture: np.ndarray
    latent_picture: np.ndarray
    latent_shape: tuple[int, int]  # (frames, dims)


@page_errors
def reconstruct(ctx: AppContext, vae_ref: str | None, audio) -> Reconstruction:
    """The Reconstruct tab: audio -> posterior-mean latents -> audio through one VAE, the encode
    every stage uses (``encode_clips``), with pictures of both sounds and of the latents."""
    vae, lock = ctx.vae(vae_ref)
    path = _reference(audio)
    wav, sr = load_audio(path, vae.sample_rate)
    with lock, torch.no_grad():
        z = vae.encode_clips([wav])[0]
        out = vae.decode(z.unsqueeze(0).to(ctx.device), length=wav.numel())[0].float().clamp(-1, 1).cpu().numpy()
    src = wav.numpy().astype(np.float32)
    return Reconstruction(sr, out, audio_picture(src, sr, "input"), audio_picture(out, sr, "reconstruction"),
                          latent_picture(z.numpy(), vae.frame_rate), tuple(z.shape))


__all__ = ["AppContext", "HOW_TO_GET_A_MODEL", "MAX_LINES", "Options", "Reconstruction", "Take", "cli_command",
           "compare", "page_errors", "parse_seed", "reconstruct", "synthesize", "text_lines"]
