"""``svae-tts app``: argument parsing only; the page is :func:`tts_recipes.app.layout.serve`."""

from __future__ import annotations

import argparse

from svae_tts.cli import add_device_option, int_arg


def _app(args: argparse.Namespace) -> int:
    import logging

    from tts_recipes.app.layout import serve

    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests, one INFO line each
    serve(args.runs, args.model, args.vae, host=args.host, port=args.port, share=args.share, device=args.device,
          allow_any_model=args.allow_any_model)
    return 0


def register(sub) -> None:
    p = sub.add_parser("app", help="web page: synthesize, compare two models, VAE round trip",
                       description="A Gradio page over the models under --runs (every exported TTS and VAE "
                                   "model dir found there), plus --model / --vae.")
    p.add_argument("-m", "--model", default=None, help="TTS model dir or hub id, offered first")
    p.add_argument("--vae", default=None, help="VAE model dir or hub id for the Reconstruct tab, offered first")
    p.add_argument("--runs", default="runs", metavar="DIR",
                   help="folder searched for model dirs (RUN/exports/step_*), default runs/")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_arg(1, 65535), default=None, help="port (default: the first free from 7860)")
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link (off by default)")
    p.add_argument("--allow-any-model", action="store_true",
                   help="let visitors type any model dir or hub id into the model boxes, which the server then "
                        "loads or downloads; without it they may only with the default loopback --host and no "
                        "--share, else only the models found under --runs and given with --model / --vae run")
    add_device_option(p)
    p.set_defaults(func=_app)
