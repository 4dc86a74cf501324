import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.audio import AUDIO_EXTENSIONS, AUDIO_FORMATS, load_audio, save_audio, list_audio_files, validate_waveform
from svae_tts.errors import AudioError, OutputExistsError


def _sine(sr=16000, seconds=0.5, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def test_load_mono_float32_and_resample(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, _sine(), 16000, subtype="PCM_16")
    wav, sr = load_audio(p)
    assert sr == 16000 and wav.dtype == torch.float32 and wav.shape == (8000,)
    assert wav.abs().max() <= 1.0 and abs(wav.abs().max().item() - 0.5) < 1e-3
    wav24, sr24 = load_audio(p, sample_rate=24000)
    assert sr24 == 24000 and wav24.shape == (12000,)


def test_stereo_mixed_down(tmp_path):
    p = tmp_path / "s.wav"
    data = _sine(channels=2)
    data[:, 1] = 0
    sf.write(p, data, 16000)
    wav, _ = load_audio(p)
    assert np.allclose(wav.numpy(), data[:, 0] / 2, atol=1e-4)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("empty", "empty file"),
        ("corrupt", "unreadable audio"),
        ("zero", "zero-length"),
        ("nan", "non-finite"),
        ("channels", "channels is not supported"),
    ],
)
def test_bad_audio_names_file_and_problem(tmp_path, case, message):
    p = tmp_path / f"{case}.wav"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "corrupt":
        p.write_bytes(b"RIFF\x00\x00garbage" * 10)
    elif case == "zero":
        sf.write(p, np.zeros((0,), np.float32), 16000)
    elif case == "nan":
        x = _sine()
        x[100] = np.nan
        sf.write(p, x, 16000, subtype="FLOAT")
    elif case == "channels":
        sf.write(p, np.zeros((100, 6), np.float32), 16000)
    with pytest.raises(AudioError) as err:
        load_audio(p)
    assert str(p) in str(err.value) and message in str(err.value)


def test_absurd_sample_rate(tmp_path):
    p = tmp_path / "low.wav"
    sf.write(p, _sine(sr=100, seconds=1), 100)
    with pytest.raises(AudioError, match="sample rate 100 Hz"):
        load_audio(p)


def test_save_is_atomic_and_refuses_overwrite(tmp_path):
    p = tmp_path / "out.wav"
    save_audio(p, torch.zeros(160), 16000)
    with pytest.raises(OutputExistsError, match="already exists"):
        save_audio(p, torch.zeros(160), 16000)
    save_audio(p, torch.ones(320) * 0.25, 16000, overwrite=True)
    wav, _ = load_audio(p)
    assert wav.shape == (320,) and abs(wav.mean().item() - 0.25) < 1e-3
    assert [x.name for x in tmp_path.iterdir()] == ["out.wav"]  # no temp files left


def test_validate_waveform_rejects_nan_and_empty():
    with pytest.raises(AudioError, match="non-finite"):
        validate_waveform(torch.tensor([0.0, float("nan")]), "x")
    with pytest.raises(AudioError, match="zero-length"):
        validate_waveform(torch.zeros(0), "x")


def test_list_audio_files(tmp_path):
    (tmp_path / "d").mkdir()
    for n in ["b.wav", "d/a.flac", "c.txt"]:
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in list_audio_files(tmp_path)] == ["b.wav", "a.flac"]
    with pytest.raises(AudioError, match="no such file or folder"):
        list_audio_files(tmp_path / "nope")


def test_an_opus_file_in_a_folder_is_found_and_read_like_one_given_by_name(tmp_path):
    """One set of inputs: an .opus file (OGG/OPUS, which soundfile reads) was read when named but
    silently left out of a folder scan."""
    sf.write(tmp_path / "talk.opus", _sine(48000), 48000, format="OGG", subtype="OPUS")
    (tmp_path / "notes.txt").write_text("not audio")
    assert [p.name for p in list_audio_files(tmp_path)] == ["talk.opus"]
    wav, sr = load_audio(list_audio_files(tmp_path)[0])
    assert sr == 48000 and abs(wav.shape[0] - 24000) < 960 and wav.abs().max() > 0.3


def test_the_formats_come_from_soundfile_and_every_help_lists_them(capsys):
    from svae_tts.cli import main

    assert AUDIO_EXTENSIONS[:5] == (".wav", ".flac", ".ogg", ".opus", ".mp3")
    assert {".aiff", ".caf", ".w64"} <= set(AUDIO_EXTENSIONS) and not {".raw", ".mat"} & set(AUDIO_EXTENSIONS)
    for argv in (["synthesize", "--help"], ["vae", "encode", "--help"], ["vae", "reconstruct", "--help"]):
        assert main(argv) == 0
        assert AUDIO_FORMATS in " ".join(capsys.readouterr().out.split()), argv
