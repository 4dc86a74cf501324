"""Each native library loads and answers one real call (see svae_tts.native_check)."""

import pytest

from svae_tts.native_check import CHECKS, run_check


@pytest.mark.parametrize("name", list(CHECKS))
def test_native_library_loads(name):
    ok, why = run_check(name)
    assert ok, f"{name}: {why}"


def test_a_broken_library_is_reported_by_name(monkeypatch):
    monkeypatch.setitem(CHECKS, "broken", "import ctypes; ctypes.CDLL('libdoes-not-exist.so')")
    ok, why = run_check("broken")
    assert not ok and "libdoes-not-exist.so" in why
