"""Every judge reads audio through one transcription path (``data_prep.transcription``): moving the
CTC model of ``data_prep.ctc``, the CTC judge and the Whisper judge of ``eval.metrics.asr`` onto it
changed no transcript and no log-probability.

``tests/data/transcription_golden.json`` holds what the three read before they shared the path
(written by :func:`capture` on the code of commit 4e38fcd); the tests read the same clips with the
same tiny models (built here from fixed seeds) and the shipped Whisper tiny.en, and compare.
Regenerate only on purpose: ``python -m tests.test_transcription_same``.
"""

import json
import math
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "data" / "transcription_golden.json"
SENTENCES = ["The old farmer carried three baskets to the market.",
             "A quiet child was reading a book in the garden.",
             "Every morning the baker opens the shop at seven."]
# int8 kernels may round differently on another CPU: log-probabilities agree to this on any machine
# (on one machine they are equal)
LOGPROB_ATOL = 1e-4


def _ctc_dir(root: Path) -> Path:
    """A random-init CTC model as ``train-ctc`` saves it (layer-norm front end, its vocabulary)."""
    from data_prep.ctc import CTCTrainConfig, _save, make_model
    from data_prep.ctc_vocab import build_vocab

    cfg = CTCTrainConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, conv_dim=[16] * 3)
    vocab = build_vocab(["the cat sat on a mat", "dogs run"])
    torch.manual_seed(7)
    model = make_model(cfg, len(vocab)).eval()
    root.mkdir(parents=True, exist_ok=True)
    _save(model, vocab, cfg, root, {"targets": "char", "config": {"sample_rate": 16000}})
    return root


def _ctc_clips() -> list[torch.Tensor]:
    """16 kHz clips of several lengths, one shorter than the front end's receptive field."""
    from eval.metrics.speechlike import speechlike

    return [speechlike(16_000, s, f0=f, seed=i) for i, (s, f) in enumerate([(1.3, 120), (0.05, 200), (2.1, 160),
                                                                            (0.6, 220), (1.0, 100)])]


def _judge_clips() -> list[tuple[torch.Tensor, int]]:
    from eval.metrics.speechlike import speechlike

    return [(speechlike(24_000, 1.0, seed=1), 24_000), (speechlike(16_000, 1.7, f0=180, seed=2), 16_000),
            (speechlike(22_050, 0.4, f0=110, seed=3), 22_050)]


def _espeak_clips() -> list:
    """The sentences as eSpeak speaks them at 16 kHz (numpy arrays)."""
    from data_prep.espeak import VoiceParams, synth_utterance

    voice = VoiceParams(voice="en-us+m3", rate=160, pitch=50, range=50, wordgap=0)
    return [synth_utterance(t, voice, 16_000, i) for i, t in enumerate(SENTENCES)]


def _whisper_clips() -> list[torch.Tensor]:
    """eSpeak speech at 16 kHz, and one clip longer than Whisper's 30 s window. Synthesised in a
    fresh process, as the eSpeak corpus is: the engine keeps state from one call to the next, so in
    a process that has used it before the same sentence comes out a little different."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        clips = [torch.from_numpy(c) for c in pool.submit(_espeak_clips).result()]
    long_clip = torch.cat([torch.cat([c, torch.zeros(16_000)]) for c in clips] * 4)[:33 * 16_000]
    return clips + [long_clip]


def read_all(tmp: Path) -> dict:
    """What each judge reads from the clips above."""
    from data_prep.ctc import transcribe
    from eval.metrics.asr import WHISPER, WhisperCT2Backend, get_asr_backend
    from tests.eval_helpers import tiny_ctc_dir

    ctc = _ctc_dir(tmp / "ctc")
    clips = _ctc_clips()
    out = {"data_prep_ctc": transcribe(ctc, clips, sample_rate=16_000, batch_size=2),
           "data_prep_ctc_alone": [transcribe(ctc, [c], sample_rate=16_000)[0] for c in clips]}
    judge = get_asr_backend(f"ctc:{tiny_ctc_dir(tmp / 'judge')}")
    out["ctc_judge"] = judge.transcribe_batch(_judge_clips())
    out["ctc_judge_alone"] = [judge.transcribe(w, sr) for w, sr in _judge_clips()]
    # built here, not taken from get_asr_backend's per-process cache, so it has the settings the golden
    # file was captured with (one thread) whatever loaded the judge before
    whisper = WhisperCT2Backend(WHISPER, "cpu", "en", threads=1)
    wclips = _whisper_clips()
    out["whisper"] = whisper.transcribe_batch([(c, 16_000) for c in wclips])
    reads = [whisper.read(c, 16_000, tuple(SENTENCES)) for c in wclips]
    out["whisper_read"] = [text for text, _ in reads]
    out["whisper_logprobs"] = [lps for _, lps in reads]
    return out


def capture() -> None:
    """Write the golden file from the code as it is (run on purpose, never by the tests)."""
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        got = read_all(Path(tmp))
    GOLDEN.write_text(json.dumps(got, indent=1) + "\n")


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    return read_all(tmp_path_factory.mktemp("transcription"))


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("key", ["data_prep_ctc", "data_prep_ctc_alone", "ctc_judge", "ctc_judge_alone",
                                 "whisper", "whisper_read"])
def test_transcripts_unchanged(reads, golden, key):
    assert reads[key] == golden[key]


def test_a_batch_reads_as_each_clip_alone(reads):
    assert reads["data_prep_ctc"] == reads["data_prep_ctc_alone"]
    assert reads["ctc_judge"] == reads["ctc_judge_alone"]
    assert reads["whisper"][:3] == reads["whisper_read"][:3]
    assert any(reads["data_prep_ctc"]) and any(reads["ctc_judge"]), "random models read nothing: a weak test"


def test_whisper_logprobs_unchanged(reads, golden):
    got, want = reads["whisper_logprobs"], golden["whisper_logprobs"]
    assert len(got) == len(want) == 4
    for g, w in zip(got[:3], want[:3]):
        assert g == pytest.approx(w, abs=LOGPROB_ATOL)
    # each short clip's own sentence is the likeliest of the three
    assert [max(range(3), key=lps.__getitem__) for lps in got[:3]] == [0, 1, 2]
    assert all(math.isnan(x) for x in got[3]) and all(math.isnan(x) for x in want[3])  # past one window: NaN


if __name__ == "__main__":
    capture()
