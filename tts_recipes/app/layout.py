"""The page: three tabs over :mod:`.handlers`, and the server around it.

Components carry ``elem_id``s so the browser test (and anyone scripting the page) can find them.
Outputs are converted here, not in the handlers: Gradio plays 16-bit PCM, and the Synthesize tab
has ``MAX_LINES`` fixed output slots, shown only as far as a request fills them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

import numpy as np

from svae_tts.errors import SvaeError
from tts_recipes.app import handlers
from tts_recipes.app.handlers import HOW_TO_GET_A_MODEL, MAX_LINES, AppContext
from tts_recipes.app.models import FoundModel, FoundModels, Offered, add_given, find_models
from tts_recipes.synthesis_settings import SPEED_RANGE

log = logging.getLogger(__name__)

DEFAULT_RUNS = "runs"
MAX_UPLOAD = "100mb"  # a reference is seconds of speech; this refuses a mistaken upload of hours
CACHE_CLEANUP = (3600, 24 * 3600)  # every hour, delete uploads and outputs the page saved over a day ago


class AppError(SvaeError):
    """The app cannot start (a port in use, a model named on the command line that does not load)."""


def pcm16(sample_rate: int, audio: np.ndarray) -> tuple[int, np.ndarray]:
    """What ``gr.Audio`` plays without converting (and warning): 16-bit samples."""
    return sample_rate, np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def no_model_note(runs: str | os.PathLike | None, any_model: bool = True) -> str:
    how = ("or type a model dir or hub id in a model box" if any_model else
           "or start the app with --model DIR (or --allow-any-model to type one into a model box)")
    return f"**No TTS model found** under `{runs}`: {HOW_TO_GET_A_MODEL}; {how}."


def is_loopback(host: str | None) -> bool:
    """Whether a server listening on ``host`` is reachable from this machine only: ``localhost``
    or an address in 127.0.0.0/8 or ::1 (None: what Gradio then listens on)."""
    if host is None:
        host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name: it may resolve to anything
        return False


def any_model_allowed(host: str | None, share: bool, allow_any_model: bool = False) -> bool:
    """Whether visitors may name any model dir or hub id (which makes the server probe local paths,
    download hub repos and import releases): when asked to, or when only this machine can reach
    the page (a loopback ``host`` and no public link)."""
    return allow_any_model or (is_loopback(host) and not share)


def _choices(models: list[FoundModel]) -> list[tuple[str, str]]:
    return [(m.label, m.path) for m in models]


def _pair(models: list[FoundModel], first: str | None) -> str | None:
    """The Compare tab's second model: the export at the same step of another run (the other arm),
    else the model before ``first`` in the list."""
    by_path = {m.path: m for m in models}
    if first not in by_path:
        return None
    a = Path(first)
    twins = [m.path for m in models if Path(m.path).name == a.name and Path(m.path).parent != a.parent]
    if twins:
        return twins[0]
    others = [m.path for m in models if m.path != first]
    return others[-1] if others else None


def _synthesize_tab(ctx: AppContext, models: list[FoundModel], start: str | None):
    import gradio as gr

    with gr.Tab("Synthesize", id="synthesize", elem_id="tab-synthesize"):
        model = gr.Dropdown(_choices(models), value=start, label="TTS model", allow_custom_value=ctx.offered is None,
                            elem_id="syn-model", info="an export found under --runs" +
                            (", or a model dir / hub id" if ctx.offered is None else ", or given with --model"))
        with gr.Row():
            ref = gr.Audio(sources=["upload", "microphone"], type="filepath", label="reference audio", elem_id="syn-ref")
            ref_text = gr.Textbox(label="its transcript", lines=3, elem_id="syn-ref-text")
        text = gr.Textbox(label=f"text to say (each non-empty line is one output, at most {MAX_LINES})", lines=3,
                          elem_id="syn-text")
        nfe, cfg, speed, seed = _option_row(gr, "syn")
        go = gr.Button("Synthesize", variant="primary", elem_id="syn-go")
        rows, slots = [], []
        for i in range(MAX_LINES):  # a row per take; hidden rows take no room
            with gr.Row(equal_height=True, visible=False) as row:
                rows.append(row)
                slots.append(gr.Audio(label=f"output {i + 1}", format="wav", interactive=False, elem_id=f"syn-out-{i}"))
                slots.append(gr.Image(label=f"spectrogram {i + 1}", type="numpy", interactive=False,
                                      elem_id=f"syn-spec-{i}"))
        used = gr.Textbox(label="seed used", interactive=False, elem_id="syn-seed-used")
        command = _command_box("the same from the command line (--ref-audio is the copy the page saved)", "syn")

    def run(model, ref, ref_text, text, nfe, cfg, speed, seed):
        seed_used, takes = handlers.synthesize(ctx, model, ref, ref_text, text, nfe, cfg, speed, seed)
        shown, values = [], []
        for i in range(MAX_LINES):
            take = takes[i] if i < len(takes) else None
            shown.append(gr.update(visible=take is not None))
            values.append(gr.update(value=pcm16(take.sample_rate, take.audio), label=f"output {i + 1}: {take.text[:80]}")
                          if take else None)
            values.append(take.spectrogram if take else None)
        return [str(seed_used), "\n".join(t.command for t in takes), *shown, *values]

    go.click(run, [model, ref, ref_text, text, nfe, cfg, speed, seed], [used, command, *rows, *slots])


def _command_box(label: str, prefix: str):
    import gradio as gr

    return gr.Textbox(label=label, lines=1, max_lines=2 * MAX_LINES, interactive=False, buttons=["copy"],
                      elem_id=f"{prefix}-command")


def _option_row(gr, prefix: str):
    with gr.Row():
        nfe = gr.Slider(1, 64, value=32, step=1, label="NFE (ODE steps)", elem_id=f"{prefix}-nfe")
        cfg = gr.Slider(0.0, 5.0, value=2.0, step=0.1, label="CFG strength", elem_id=f"{prefix}-cfg")
        speed = gr.Slider(max(SPEED_RANGE[0], 0.3), min(SPEED_RANGE[1], 3.0), value=1.0, step=0.05, label="speed",
                          elem_id=f"{prefix}-speed")
        seed = gr.Number(value=-1, precision=0, label="seed (-1 or blank: random)", elem_id=f"{prefix}-seed")
    return nfe, cfg, speed, seed


def _compare_tab(ctx: AppContext, models: list[FoundModel], start: str | None):
    import gradio as gr

    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown("The same text, reference, options and seed through two TTS models, e.g. the semantic and "
                    "the acoustic arm at the same training step.")
        with gr.Row():
            model_a = gr.Dropdown(_choices(models), value=start, label="model A",
                                  allow_custom_value=ctx.offered is None, elem_id="cmp-model-a")
            model_b = gr.Dropdown(_choices(models), value=_pair(models, start), label="model B",
                                  allow_custom_value=ctx.offered is None, elem_id="cmp-model-b")
        with gr.Row():
            ref = gr.Audio(sources=["upload", "microphone"], type="filepath", label="reference audio", elem_id="cmp-ref")
            ref_text = gr.Textbox(label="its transcript", lines=3, elem_id="cmp-ref-text")
        text = gr.Textbox(label="text to say", lines=2, elem_id="cmp-text")
        nfe, cfg, speed, seed = _option_row(gr, "cmp")
        go = gr.Button("Compare", variant="primary", elem_id="cmp-go")
        used = gr.Textbox(label="seed used (both)", interactive=False, elem_id="cmp-seed-used")
        outs = []
        with gr.Row():
            for side in ("a", "b"):
                with gr.Column():
                    outs.append(gr.Audio(label=f"model {side.upper()}", format="wav", interactive=False,
                                         elem_id=f"cmp-out-{side}"))
                    outs.append(gr.Image(label=f"model {side.upper()}: spectrogram", type="numpy",
                                         interactive=False, elem_id=f"cmp-spec-{side}"))
        command = _command_box("the same from the command line", "cmp")

    def run(model_a, model_b, ref, ref_text, text, nfe, cfg, speed, seed):
        seed_used, a, b = handlers.compare(ctx, model_a, model_b, ref, ref_text, text, nfe, cfg, speed, seed)
        return [str(seed_used), pcm16(a.sample_rate, a.audio), a.spectrogram, pcm16(b.sample_rate, b.audio),
                b.spectrogram, f"{a.command}\n{b.command}"]

    go.click(run, [model_a, model_b, ref, ref_text, text, nfe, cfg, speed, seed], [used, *outs, command])


def _reconstruct_tab(ctx: AppContext, vaes: list[FoundModel], start: str | None):
    import gradio as gr

    with gr.Tab("Reconstruct", id="reconstruct", elem_id="tab-reconstruct"):
        gr.Markdown("A round trip through a VAE: audio → latents (the posterior mean) → audio.")
        vae = gr.Dropdown(_choices(vaes), value=start, label="VAE model", allow_custom_value=ctx.offered is None,
                          elem_id="rec-vae")
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="audio", elem_id="rec-in")
        go = gr.Button("Reconstruct", variant="primary", elem_id="rec-go")
        out = gr.Audio(label="reconstruction", format="wav", interactive=False, elem_id="rec-out")
        with gr.Row():
            pic_in = gr.Image(label="input", type="numpy", interactive=False, elem_id="rec-pic-in")
            pic_out = gr.Image(label="reconstruction", type="numpy", interactive=False, elem_id="rec-pic-out")
        pic_z = gr.Image(label="latents", type="numpy", interactive=False, elem_id="rec-latents")

    def run(vae, audio):
        r = handlers.reconstruct(ctx, vae, audio)
        return [pcm16(r.sample_rate, r.audio), r.input_picture, r.output_picture, r.latent_picture]

    go.click(run, [vae, audio], [out, pic_in, pic_out, pic_z])


def build_app(ctx: AppContext, found: FoundModels, model: str | None = None, vae: str | None = None,
              runs: str | os.PathLike | None = DEFAULT_RUNS):
    """The ``gr.Blocks`` page; ``model`` / ``vae`` (from the command line) are offered first and
    selected, else the newest model found is. Its model boxes take typed names only when
    ``ctx.offered`` is None (see :class:`AppContext`)."""
    import gradio as gr

    tts_models, tts_start = add_given(found.tts, model)
    vae_models, vae_start = add_given(found.vae, vae)
    with gr.Blocks(title="svae-tts", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as page:
        gr.Markdown(f"# svae-tts\nModels from `{runs}` on `{ctx.device}`.")
        if not tts_models:
            gr.Markdown(no_model_note(runs, ctx.offered is None), elem_id="no-model")
        with gr.Tabs():
            _synthesize_tab(ctx, tts_models, tts_start)
            _compare_tab(ctx, tts_models, tts_start)
            _reconstruct_tab(ctx, vae_models, vae_start)
    return page


def create_app(runs: str | os.PathLike | None = DEFAULT_RUNS, model: str | None = None, vae: str | None = None,
               device: str | None = "auto", any_model: bool = False):
    """The page and its context: models found under ``runs``, the device resolved (``auto`` = CUDA
    when present), and ``model`` / ``vae`` loaded now, so one that cannot load stops the command
    with its one-line error instead of failing on the first click. Requests may run only those
    models unless ``any_model`` (see :func:`any_model_allowed`)."""
    from svae_tts.device import resolve_device

    ctx = AppContext(device=resolve_device(device))
    if runs is not None and not Path(runs).is_dir():
        log.warning("%s: no such folder; no models offered from it", runs)
    found = find_models(runs)
    log.info("found %d TTS and %d VAE model dir(s) under %s", len(found.tts), len(found.vae), runs)
    if not any_model:
        ctx.offered = Offered.of(add_given(found.tts, model)[0], add_given(found.vae, vae)[0])
    if model:
        ctx.synthesizer(model)
    if vae:
        ctx.vae(vae)
    return build_app(ctx, found, model, vae, runs), ctx


def serve(runs: str | os.PathLike | None = DEFAULT_RUNS, model: str | None = None, vae: str | None = None,
          host: str = "127.0.0.1", port: int | None = None, share: bool = False, device: str | None = "auto",
          block: bool = True, allow_any_model: bool = False):
    """Start the page and print where it listens (``block``: then serve until Ctrl-C). Returns the
    ``gr.Blocks``, whose ``local_url`` says where it listens and whose ``close()`` stops it.
    Visitors may name any model only as :func:`any_model_allowed` says."""
    any_model = any_model_allowed(host, share, allow_any_model)
    page, _ = create_app(runs, model, vae, device, any_model=any_model)
    if not any_model:
        log.info("the page runs only the models it lists (--allow-any-model lets visitors name others)")
    try:
        page.queue().launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
                            max_file_size=MAX_UPLOAD)
    except OSError:
        where = f"port {port}" if port else "a free port from 7860 to 7959"
        raise AppError(f"cannot listen on {host} at {where} (in use, or not this machine's address); "
                       f"choose another with --port / --host") from None
    print(f"svae-tts app: {page.local_url}" + (f" and {page.share_url}" if share and page.share_url else "")
          + (" (Ctrl-C stops)" if block else ""), flush=True)
    if block:
        page.block_thread()
    return page


__all__ = ["AppError", "DEFAULT_RUNS", "any_model_allowed", "build_app", "create_app", "is_loopback", "no_model_note",
           "pcm16", "serve"]
