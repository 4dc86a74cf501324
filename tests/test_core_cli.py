import pytest

from svae_tts.cli import EXIT_USER_ERROR, main, run_reporting_errors
from svae_tts.errors import AudioError


def test_run_reporting_errors_maps_user_errors_to_one_line(capsys):
    def bad():
        raise AudioError("/data/x.wav: zero-length audio (no samples)")

    assert run_reporting_errors(bad, prog="vae.train") == EXIT_USER_ERROR == 2
    err = capsys.readouterr().err
    assert err == "vae.train: error: /data/x.wav: zero-length audio (no samples)\n"


def test_run_reporting_errors_passes_status_and_keeps_bugs():
    assert run_reporting_errors(lambda: None) == 0
    assert run_reporting_errors(lambda: 3) == 3
    with pytest.raises(ZeroDivisionError):  # not a user error: the traceback must survive
        run_reporting_errors(lambda: 1 / 0)


def test_run_reporting_errors_interrupt(capsys):
    def interrupted():
        raise KeyboardInterrupt

    assert run_reporting_errors(interrupted) == 130
    assert "svae-tts: interrupted" in capsys.readouterr().err


def test_main_without_command_prints_help(capsys):
    assert main([]) == 2  # no command is a user error (1 is kept for bugs)
    assert "usage: svae-tts" in capsys.readouterr().out


def test_setup_logging_writes_one_line_per_record():
    """The format the CLI and the demo's workers share: ``LEVEL logger.name: message`` on stderr."""
    import subprocess
    import sys

    code = ("import logging; from svae_tts.log_setup import setup_logging; setup_logging(logging.INFO); "
            "logging.getLogger('eval.demo').info('stage %s done', 'tts'); logging.getLogger('x').debug('hidden')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == "INFO eval.demo: stage tts done\n"
