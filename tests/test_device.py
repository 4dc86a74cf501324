"""``--device``: one resolver (svae_tts.device), ``auto`` by default in every command that runs a model."""

import pytest
import torch

from svae_tts.cli import build_parser, main
from svae_tts.device import DeviceError, device_name, resolve_device

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device(None) == torch.device(expected) and device_name(" AUTO ") == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad, why", [("gpu0", "not a torch device"), ("cuda:x", "not a torch device"),
                                      ("meta", "meta devices are not supported"), ("", "not a torch device")])
def test_bad_names_are_refused_naming_them(bad, why):
    with pytest.raises(DeviceError, match=f"device {bad!r}: {why}"):
        resolve_device(bad)


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:1", torch.device("cuda")])
def test_cuda_on_a_machine_without_it_is_refused(name):
    with pytest.raises(DeviceError, match="CUDA is not available on this machine"):
        resolve_device(name)


# every command that runs a model, and where in its arguments --device goes
COMMANDS = [
    ["synthesize", "--model", "m", "-o", "o.wav"],
    ["vae", "encode", "in", "-o", "out", "-m", "m"],
    ["data", "train-ctc", "--corpus", "c", "--out", "o"],
    ["eval", "recon", "--model", "v", "--corpus", "d", "--out", "o"],
    ["eval", "tts", "--model", "m", "--test", "t", "--out", "o"],
    ["eval", "probe", "--model", "v", "--corpus", "d", "--out", "o"],
    ["eval", "text-reliance", "--model", "m", "--data", "d", "--out", "o"],
    ["demo"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_defaults_to_auto_and_checks_the_name(argv, capsys):
    args = build_parser().parse_args(argv)
    assert args.device == device_name("auto")
    assert build_parser().parse_args([*argv, "--device", "cpu"]).device == "cpu"
    assert main([*argv, "--device", "gpu0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device" in err and "'gpu0': not a torch device" in err and "Traceback" not in err


@NO_CUDA
def test_an_unavailable_gpu_stops_the_command_before_any_work(tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert main(["synthesize", "--model", str(tmp_path / "nowhere"), "--text", "a", "--ref-audio", "r.wav",
                 "--ref-text", "a", "-o", str(out), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and err.count("\n") == 1 and not out.exists()
