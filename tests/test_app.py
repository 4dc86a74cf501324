"""``svae-tts app`` without a browser: model discovery, the handlers of each tab on tiny models,
the page's one-line errors, the model cache and the command's options."""

import shlex
import socket
import shutil
import threading

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from svae_tts.cli import main
from svae_tts.errors import SvaeError
from tests.tts_fixtures import build_runs, one_torch_thread  # noqa: F401
from tts_recipes.app import handlers
from tts_recipes.app.handlers import AppContext, parse_seed, text_lines
from tts_recipes.app import layout
from tts_recipes.app.layout import AppError, any_model_allowed, build_app, create_app, is_loopback, no_model_note, pcm16
from tts_recipes.app.models import FoundModel, FoundModels, ModelCache, add_given, find_models


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def ctx():
    return AppContext()


def _synth(ctx, runs, text="the cat sat", seed=None, model=None, **kw):
    return handlers.synthesize(ctx, str(model or runs["tts"]["semantic"]), str(runs["ref_wav"]), runs["ref_text"],
                               text, kw.get("nfe", 4), kw.get("cfg", 2.0), kw.get("speed", 1.0), seed)


# -- discovery -------------------------------------------------------------------------------------
def test_models_are_found_by_their_config_not_their_names(runs, tmp_path):
    found = find_models(runs["runs"])
    assert [m.label for m in found.tts] == ["tts_acoustic/exports/step_00000002", "tts_semantic/exports/step_00000002"]
    assert [m.path for m in found.vae] == [str(runs["vae"])]
    # the VAE each TTS export carries in vae/ is not offered again
    assert (runs["tts"]["semantic"] / "vae" / "config.json").is_file()
    assert not any("/vae" in m.label.split("exports")[-1] for m in found.tts + found.vae)

    # names mean nothing: a TTS export under a "vae" name is a TTS model; a Hugging Face config
    # (the demo's teacher), a broken config.json and a missing folder are skipped
    odd = tmp_path / "runs"
    shutil.copytree(runs["tts"]["semantic"], odd / "vae_named" / "exports" / "step_1000")
    shutil.copytree(runs["tts"]["semantic"], odd / "vae_named" / "exports" / "step_900")
    (odd / "teacher").mkdir()
    (odd / "teacher" / "config.json").write_text('{"model_type": "wav2vec2"}')
    (odd / "broken").mkdir()
    (odd / "broken" / "config.json").write_text("{not json")
    found = find_models(odd)
    assert [m.label for m in found.tts] == ["vae_named/exports/step_900", "vae_named/exports/step_1000"]
    assert found.vae == []
    assert find_models(tmp_path / "nowhere") == FoundModels()


def test_a_model_given_on_the_command_line_is_offered_first_and_chosen():
    found = [FoundModel("a/exports/step_1", "/r/a/exports/step_1"), FoundModel("b/exports/step_1", "/r/b/exports/step_1")]
    assert add_given(found, None) == (found, "/r/b/exports/step_1")
    assert add_given(found, "/r/a/exports/step_1") == (found, "/r/a/exports/step_1")
    models, start = add_given(found, "owner/model")
    assert start == "owner/model" and models[0] == FoundModel("owner/model", "owner/model") and models[1:] == found
    assert add_given([], None) == ([], None)


# -- the tabs --------------------------------------------------------------------------------------
def test_synthesize_gives_one_take_per_line_at_the_models_rate_with_one_seed(runs, ctx):
    seed, takes = _synth(ctx, runs, "the cat sat\n\n   \na dog ran far", seed=-1)
    assert isinstance(seed, int) and 0 <= seed < 2**31
    assert [t.text for t in takes] == ["the cat sat", "a dog ran far"]
    synth, _ = ctx.synthesizer(str(runs["tts"]["semantic"]))
    assert synth.last_seed == seed
    for t in takes:
        assert t.sample_rate == synth.sample_rate == 16000
        assert t.audio.dtype == np.float32 and t.audio.ndim == 1 and t.audio.size > 0 and np.abs(t.audio).max() <= 1
        assert t.spectrogram.ndim == 3 and t.spectrogram.shape[2] == 3 and t.spectrogram.std() > 0
        assert f"--seed {seed}" in t.command and "--nfe 4" in t.command
    # the same seed, typed in, makes the same first take; another seed another one
    again = _synth(ctx, runs, "the cat sat", seed=str(seed))[1][0]
    other = _synth(ctx, runs, "the cat sat", seed=seed + 1)[1][0]
    assert np.array_equal(again.audio, takes[0].audio) and not np.array_equal(other.audio, takes[0].audio)
    assert _synth(ctx, runs, "the cat sat", seed="")[0] != _synth(ctx, runs, "the cat sat", seed=None)[0]


def test_the_printed_command_makes_the_same_sound(runs, ctx, tmp_path):
    seed, (take,) = _synth(ctx, runs, "a dog ran far", seed=None, cfg=1.5, speed=1.25)
    argv = shlex.split(take.command)
    assert argv[:2] == ["svae-tts", "synthesize"]
    argv[argv.index("-o") + 1] = str(tmp_path / "cli.wav")
    assert main(argv[1:]) == 0
    wav, sr = sf.read(tmp_path / "cli.wav", dtype="float32")
    assert sr == take.sample_rate and wav.shape == take.audio.shape
    assert np.abs(wav - take.audio).max() <= 1.5 / 32767  # only the 16-bit file's rounding


def test_compare_runs_two_models_with_one_seed(runs, ctx):
    a_dir, b_dir = str(runs["tts"]["semantic"]), str(runs["tts"]["acoustic"])
    seed, a, b = handlers.compare(ctx, a_dir, b_dir, str(runs["ref_wav"]), runs["ref_text"], "the cat\nsat", 4, 2.0, 1.0, 7)
    assert seed == 7 and a.text == b.text == "the cat sat"
    assert a.sample_rate == b.sample_rate == 16000 and a.audio.size and b.audio.size
    assert not np.array_equal(a.audio, b.audio)  # two different models
    assert np.array_equal(a.audio, _synth(ctx, runs, "the cat sat", seed=7)[1][0].audio)
    assert a_dir in a.command and b_dir in b.command and "--seed 7" in b.command
    # a random seed is drawn once and shared
    seed, a, b = handlers.compare(ctx, a_dir, a_dir, str(runs["ref_wav"]), runs["ref_text"], "the cat", 4, 2.0, 1.0, -1)
    assert np.array_equal(a.audio, b.audio) and f"--seed {seed}" in b.command


def test_reconstruct_returns_audio_and_pictures(runs, ctx):
    r = handlers.reconstruct(ctx, str(runs["vae"]), str(runs["ref_wav"]))
    src, sr = sf.read(runs["ref_wav"], dtype="float32")
    assert r.sample_rate == sr == 16000 and r.audio.shape == src.shape and np.isfinite(r.audio).all()
    assert r.latent_shape == (int(np.ceil(src.size / 400)), 16)
    for pic in (r.input_picture, r.output_picture, r.latent_picture):
        assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3 and pic.std() > 0


# -- errors ----------------------------------------------------------------------------------------
def _page_error(func, *args) -> str:
    with pytest.raises(gr.Error) as info:
        func(*args)
    message = info.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_errors_are_one_line_in_the_page_and_the_next_request_works(runs, ctx, tmp_path):
    model, ref, ref_text = str(runs["tts"]["semantic"]), str(runs["ref_wav"]), runs["ref_text"]
    syn = handlers.synthesize
    assert "text is empty" in _page_error(syn, ctx, model, ref, ref_text, " \n ", 4, 2, 1, None)
    assert "ref_text is empty" in _page_error(syn, ctx, model, ref, "  ", "hi", 4, 2, 1, None)
    assert "no reference audio" in _page_error(syn, ctx, model, None, ref_text, "hi", 4, 2, 1, None)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wav file")
    assert str(garbage) in _page_error(syn, ctx, model, str(garbage), ref_text, "hi", 4, 2, 1, None)
    assert "--nfe" in _page_error(syn, ctx, model, ref, ref_text, "hi", 0, 2, 1, None)
    assert "--speed" in _page_error(syn, ctx, model, ref, ref_text, "hi", 4, 2, 99, None)
    assert "--seed" in _page_error(syn, ctx, model, ref, ref_text, "hi", 4, 2, 1, "abc")
    assert "at most 8" in _page_error(syn, ctx, model, ref, ref_text, "a\n" * 9, 4, 2, 1, None)
    assert "make demo" in _page_error(syn, ctx, None, ref, ref_text, "hi", 4, 2, 1, None)
    loaded = len(ctx.cache)
    assert "no such model directory" in _page_error(syn, ctx, str(tmp_path / "missing"), ref, ref_text, "hi", 4, 2, 1, None)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_kind": "svae_tts.tts"}')
    (broken / "model.safetensors").write_bytes(b"nope")
    assert _page_error(syn, ctx, str(broken), ref, ref_text, "hi", 4, 2, 1, None).startswith(f"model {broken}: ")
    truncated = tmp_path / "truncated"
    shutil.copytree(model, truncated)
    (truncated / "model.safetensors").write_bytes((truncated / "model.safetensors").read_bytes()[:1000])
    assert "unreadable safetensors" in _page_error(syn, ctx, str(truncated), ref, ref_text, "hi", 4, 2, 1, None)
    assert len(ctx.cache) == loaded  # failures are not cached
    assert "second TTS model" in _page_error(handlers.compare, ctx, model, None, ref, ref_text, "hi", 4, 2, 1, None)
    assert "no VAE model" in _page_error(handlers.reconstruct, ctx, None, ref)
    assert str(garbage) in _page_error(handlers.reconstruct, ctx, str(runs["vae"]), str(garbage))
    # the next request makes the sound a context that saw no failure makes
    _assert_same_take(_synth(ctx, runs, "the cat", seed=3), _synth(AppContext(), runs, "the cat", seed=3))


def _assert_same_take(got, want) -> None:
    """Two ``(seed, takes)`` answers are one sound: the same seed, text, rate and samples, and not silence."""
    (seed, (take,)), (want_seed, (wanted,)) = got, want
    assert (seed, take.text, take.sample_rate) == (want_seed, wanted.text, wanted.sample_rate)
    assert np.array_equal(take.audio, wanted.audio) and np.abs(take.audio).max() > 1e-3


def test_a_page_others_can_reach_runs_only_the_models_it_lists(runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # a good model outside --runs
    shutil.copytree(runs["tts"]["semantic"], elsewhere)
    given = tmp_path / "given"
    shutil.copytree(runs["tts"]["acoustic"], given)
    page, ctx = create_app(runs["runs"], model=str(given), device="cpu", any_model=False)
    boxes = [c["props"] for c in page.config["components"] if c.get("type") == "dropdown"]
    assert len(boxes) == 4 and not any(b["allow_custom_value"] for b in boxes)

    model, ref, ref_text = str(runs["tts"]["semantic"]), str(runs["ref_wav"]), runs["ref_text"]
    ctx.synthesizer(model)
    loaded = len(ctx.cache)  # the model given, and a listed one
    for name in (str(elsewhere), str(tmp_path / "missing"), "owner/repo", "owner/repo/sub"):
        message = _page_error(handlers.synthesize, ctx, name, ref, ref_text, "hi", 4, 2, 1, None)
        assert "not offered by this page" in message and "--allow-any-model" in message
        assert "no such" not in message  # nothing about the path is probed or told
    # a model the page lists in the other tab: the loaders' kind message (the page shows it anyway)
    vae = str(runs["vae"])
    assert f"{vae}: this is a VAE, not a TTS model" in _page_error(handlers.synthesize, ctx, vae, ref, ref_text, "hi",
                                                                   4, 2, 1, None)
    assert "not offered" in _page_error(handlers.compare, ctx, model, str(elsewhere), ref, ref_text, "hi", 4, 2, 1, 1)
    assert "not offered" in _page_error(handlers.compare, ctx, str(elsewhere), model, ref, ref_text, "hi", 4, 2, 1, 1)
    assert f"{model}: this is a TTS model, not a VAE" in _page_error(handlers.reconstruct, ctx, model, ref)
    assert "not offered" in _page_error(handlers.reconstruct, ctx, "x\ny" * 200, ref)  # one line, shortened
    assert "not offered" in _page_error(handlers.reconstruct, ctx, "a\0b", ref)
    assert len(ctx.cache) == loaded  # nothing was loaded

    # what the page lists runs: the models found, by any spelling of their dir, and the one given,
    # each making what that model makes anywhere else (the same seed, the same sound)
    plain = AppContext()
    _assert_same_take(_synth(ctx, runs, model=model + "/", seed=5), _synth(plain, runs, model=model, seed=5))
    _assert_same_take(_synth(ctx, runs, model=str(given), seed=5), _synth(plain, runs, model=runs["tts"]["acoustic"], seed=5))
    rec, want = handlers.reconstruct(ctx, str(runs["vae"]), ref), handlers.reconstruct(plain, str(runs["vae"]), ref)
    assert rec.sample_rate == want.sample_rate == 16000 and np.array_equal(rec.audio, want.audio)
    assert rec.audio.shape == (sf.info(ref).frames,) and np.abs(rec.audio).max() > 1e-3

    # a page only this machine reaches (or --allow-any-model) takes any model
    page, ctx = create_app(runs["runs"], device="cpu", any_model=True)
    assert all(c["props"]["allow_custom_value"] for c in page.config["components"] if c.get("type") == "dropdown")
    _assert_same_take(_synth(ctx, runs, model=str(elsewhere), seed=5), _synth(plain, runs, model=model, seed=5))


def test_who_may_name_any_model():
    for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LocalHost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "localhost.example.org", ""):
        assert not is_loopback(host), host
    assert any_model_allowed("127.0.0.1", share=False)
    assert not any_model_allowed("127.0.0.1", share=True) and not any_model_allowed("0.0.0.0", share=False)
    assert any_model_allowed("0.0.0.0", share=True, allow_any_model=True)
    assert "--allow-any-model" in no_model_note("runs", any_model=False)


def test_the_allow_any_model_option(monkeypatch, tmp_path, capsys):
    seen = []

    def create_app(*args, any_model, **kwargs):  # stands in for the page: records, then stops the command
        seen.append(any_model)
        raise AppError("stopped by the test")

    monkeypatch.setattr(layout, "create_app", create_app)
    for argv in ([], ["--share"], ["--host", "0.0.0.0"], ["--host", "localhost"],
                 ["--host", "0.0.0.0", "--allow-any-model"], ["--share", "--allow-any-model"]):
        assert main(["app", "--runs", str(tmp_path), *argv]) == 2
    assert seen == [True, False, False, True, True, True]
    assert "stopped by the test" in capsys.readouterr().err


def test_a_bug_is_one_line_too(runs, ctx):
    @handlers.page_errors
    def buggy():
        raise ZeroDivisionError("division by zero\nsecond line")

    assert _page_error(buggy).startswith("unexpected error (details in the server log): ZeroDivisionError")


def test_a_transcript_off_its_clips_pace_is_a_note_in_the_page_and_bad_text_one_line(runs, ctx):
    """Synthesis's warnings reach the page (outside a request Gradio makes them Python warnings);
    its refusals (text mostly outside the vocabulary) are one line there, as on the CLI."""
    model, ref = str(runs["tts"]["semantic"]), str(runs["ref_wav"])
    with pytest.warns(UserWarning, match="transcript has 1 characters"):
        handlers.synthesize(ctx, model, ref, "x", "the cat sat", 2, 2.0, 1.0, 0)
    message = _page_error(handlers.synthesize, ctx, model, ref, runs["ref_text"], "привет мир", 2, 2.0, 1.0, 0)
    assert "not in the model's vocabulary" in message and "п" in message


def test_seed_and_text_parsing():
    assert parse_seed(None) is parse_seed("") is parse_seed(" ") is parse_seed(-1) is parse_seed(-1.0) is None
    assert parse_seed(5) == parse_seed(5.0) == parse_seed(" 5 ") == 5
    assert text_lines("a\n\n b \r\nc") == ["a", "b", "c"]


# -- the cache -------------------------------------------------------------------------------------
def test_models_load_once_per_path_and_device(runs):
    ctx = AppContext(cache=ModelCache(size=2))
    a, b = str(runs["tts"]["semantic"]), str(runs["tts"]["acoustic"])
    first, lock = ctx.synthesizer(a)
    assert ctx.synthesizer(a + "/")[0] is first and ctx.synthesizer(a)[1] is lock
    ctx.synthesizer(b)
    ctx.vae(str(runs["vae"]))  # a third model: the least recently used (a) goes
    assert len(ctx.cache) == 2 and ctx.synthesizer(a)[0] is not first


@pytest.mark.parametrize("first", ["tts", "vae"])
def test_a_folder_asked_for_as_the_other_kind_gets_the_kind_error_either_order(runs, first):
    """The cache is keyed by kind too: a TTS export loaded on Synthesize and then typed into
    Reconstruct (or the reverse) gets the loader's one-line kind error, not the other tab's object."""
    ctx = AppContext()
    tts, vae = str(runs["tts"]["semantic"]), str(runs["vae"])
    asks = [(ctx.synthesizer, tts, ctx.vae, tts, f"^{tts}: this is a TTS model, not a VAE$"),
            (ctx.vae, vae, ctx.synthesizer, vae, f"^{vae}: this is a VAE, not a TTS model$")]
    for load, ref, wrong, wrong_ref, said in asks if first == "tts" else asks[::-1]:
        load(ref)
        for _ in range(2):  # the second ask must not find the failed load cached either
            with pytest.raises(SvaeError, match=said):
                wrong(wrong_ref)
    # the same folder, the other kind: the page shows the kind error, never an AttributeError
    page = _page_error(handlers.page_errors(lambda: ctx.vae(tts)))
    assert f"{tts}: this is a TTS model, not a VAE" in page and "AttributeError" not in page



def _slow(calls: list, started: threading.Event, release: threading.Event, value=None):
    """A loader that says it started, then waits for ``release`` (a hub download, say)."""

    def load():
        calls.append(1)
        started.set()
        assert release.wait(10), "never released"
        return value if value is not None else object()

    return load


def _in_thread(func, *args) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(func(*args)), daemon=True)
    thread.start()
    return thread, out


def test_a_slow_load_does_not_hold_up_other_models():
    cache = ModelCache()
    cached, _ = cache.get("cached", object)
    calls, started, release = [], threading.Event(), threading.Event()
    slow, slow_out = _in_thread(cache.get, "slow", _slow(calls, started, release))
    try:
        assert started.wait(10)
        # while "slow" loads: a cached model comes back at once, another model loads
        fast, fast_out = _in_thread(cache.get, "cached", object)
        fast.join(5)
        assert not fast.is_alive() and fast_out[0][0] is cached
        other, other_out = _in_thread(cache.get, "other", lambda: "other model")
        other.join(5)
        assert not other.is_alive() and other_out[0][0] == "other model"
        assert slow.is_alive() and len(cache) == 2  # the slow one is not counted before it loads
    finally:
        release.set()
        slow.join(10)
    assert slow_out[0][0] is cache.get("slow", lambda: pytest.fail("loaded twice"))[0] and len(cache) == 3


def test_two_requests_for_one_model_load_it_once():
    cache = ModelCache()
    calls, started, release = [], threading.Event(), threading.Event()
    load = _slow(calls, started, release)
    first, first_out = _in_thread(cache.get, "k", load)
    assert started.wait(10)
    others = [_in_thread(cache.get, "k", load) for _ in range(3)]
    first.join(0.2)  # the others are waiting for the first load, not loading
    assert first.is_alive() and all(t.is_alive() for t, _ in others) and calls == [1]
    release.set()
    for t, _ in [(first, first_out), *others]:
        t.join(10)
    got = [out[0] for _, out in [(first, first_out), *others]]
    assert calls == [1] and all(g[0] is got[0][0] and g[1] is got[0][1] for g in got)


def test_a_failed_load_is_retried_by_the_requests_that_waited_for_it():
    cache = ModelCache()
    started, release = threading.Event(), threading.Event()
    calls = []

    def load():
        calls.append(1)
        if len(calls) == 1:
            started.set()
            assert release.wait(10)
            raise OSError("download failed")
        return "model"

    errors = []
    first = threading.Thread(target=lambda: errors.append(pytest.raises(OSError, cache.get, "k", load)), daemon=True)
    first.start()
    assert started.wait(10)
    second, second_out = _in_thread(cache.get, "k", load)
    release.set()
    first.join(10)
    second.join(10)
    assert errors and second_out[0][0] == "model" and calls == [1, 1] and len(cache) == 1
    assert cache.get("k", lambda: pytest.fail("loaded again"))[0] == "model"


# -- the page and the command ----------------------------------------------------------------------
def test_the_page_without_models_says_how_to_get_one(tmp_path):
    page = build_app(AppContext(), FoundModels(), runs=tmp_path / "runs")
    texts = [c.get("props", {}).get("value") for c in page.config["components"]]
    assert no_model_note(tmp_path / "runs") in texts and "make demo" in no_model_note("runs")
    sr, pcm = pcm16(16000, np.array([0.0, 0.5, -1.0, 2.0], dtype=np.float32))
    assert sr == 16000 and pcm.dtype == np.int16 and pcm.tolist() == [0, 16384, -32767, 32767]


def test_command_line_options_and_one_line_errors(runs, tmp_path, capsys):
    assert main(["app", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--model", "--vae", "--runs", "--host", "--port", "--share", "--allow-any-model", "--device"):
        assert option in out
    assert main(["app", "--port", "0"]) == 2
    assert main(["app", "--runs", str(tmp_path), "--model", str(tmp_path / "missing")]) == 2
    assert main(["app", "--runs", str(tmp_path), "--vae", str(runs["tts"]["semantic"])]) == 2
    assert main(["app", "--runs", str(tmp_path), "--device", "warp9"]) == 2
    with socket.socket() as taken:  # a port another program listens on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", "--runs", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("svae-tts") and "error" in line for line in err)
    assert "missing" in err[1] and err[2].endswith(f"{runs['tts']['semantic']}: this is a TTS model, not a VAE")
    assert "warp9" in err[3]
    assert f"port {port}" in err[4] and "--port" in err[4]
