"""``svae-tts vae import|encode|decode|reconstruct|train``: argument parsing only (see vae.official,
vae.file_jobs, vae.train)."""

from __future__ import annotations

import argparse

from svae_tts.audio import AUDIO_FORMATS
from svae_tts.cli import add_device_option, seed_int
from svae_tts.errors import EXIT_USER_ERROR
from svae_tts.train_cli import add_run_options, config_overrides

TRAIN_EPILOG = """examples:
  svae-tts vae train --config tiny_acoustic data.train=CORPUS_DIR run_dir=runs/vae max_steps=200
  accelerate launch -m svae_tts vae train --config semantic_vae data.train=CORPUS_DIR --resume auto
  (python -m vae.train ... is the same command)"""


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True,
                   help="VAE model dir, hub id, release reference (owner/repo/subfolder, imported once into the "
                        "svae-tts cache), or preset:NAME (random init, e.g. preset:tiny for demos)")
    add_device_option(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files an earlier run of this command wrote (never a file it did not write)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--decoder-dtype", choices=["float32", "bfloat16"], default="float32",
                   help="precision of the decode (bfloat16: ~1.6x the fp32 decode at batch 1, ~2.7x at batch 8, on CPUs "
                        "with bf16 units; waveform error of a few 1e-3; vae/fast_decode.py)")


def _sampling_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--use-mean", dest="use_mean", action="store_true", default=True,
                   help="deterministic latents: the posterior mean (default)")
    g.add_argument("--sample", dest="use_mean", action="store_false", help="sample z ~ q(z|x) instead")
    p.add_argument("--seed", type=seed_int, default=None, help="seed for --sample")


def _release_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--padding", choices=["margin", "release"], default="margin",
                   help="margin (default): 0.5 s of trailing zeros before encoding, so a file's last frames are those "
                        "of the latent sets and every other stage; release: as the release's "
                        "scripts/extract_latent.py (padded to the hop only; with --sample its noise stream, --seed "
                        "default 42), for latents that mix with its files. The two differ in the last ~12 frames")
    p.add_argument("--npy", action="store_true",
                   help="write the release script's layout: one .npy (1, D, T) float32 per file, no metadata "
                        "(vae decode reads .safetensors only)")


def _file_job(kind: str):
    def run(args: argparse.Namespace) -> int:
        from svae_tts.cli import skipped_status
        from vae import file_jobs
        from vae.load import load_vae

        # the inputs and the output folder first: a clash, a folder of someone else's files or an
        # unwritable place is reported before a model loads
        file_jobs.plan_job(kind, args.inputs, args.out, args.overwrite, args.model, getattr(args, "npy", False))
        vae = load_vae(args.model, args.device).set_decode_dtype(args.decoder_dtype)
        kwargs = dict(overwrite=args.overwrite, progress=not args.no_progress)
        if kind != "decode":
            kwargs.update(use_mean=args.use_mean, seed=args.seed)
        if kind == "encode":
            kwargs.update(padding=args.padding, npy=args.npy)
        job = {"encode": file_jobs.encode_files, "decode": file_jobs.decode_files,
               "reconstruct": file_jobs.reconstruct_files}[kind]
        report = job(vae, args.inputs, args.out, **kwargs)
        print(report.summary())
        print(f"report: {report.out_dir}/{report.command}_report.json")
        return skipped_status([(f["path"], f["reason"]) for f in report.failed])

    return run


def _import(args: argparse.Namespace) -> int:
    from vae.official import import_official

    out = import_official(args.official_dir, args.out, ema=args.ema, keep_projector=args.projector,
                          overwrite=args.overwrite, name=args.name)
    print(f"imported {args.official_dir} ({'EMA' if args.ema else 'raw'} weights) -> {out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from vae.train import train
    from vae.train_config import load_train_config

    result = train(load_train_config(args.config, config_overrides(args)))
    print(f"trained to step {result.step}: checkpoint {result.last_checkpoint}, export {result.last_export}")
    return 0


def _add_train(cmds) -> None:
    """``vae train``: the GAN trainer of vae.train on the trainers' shared options (svae_tts.train_cli)."""
    p = cmds.add_parser("train", help="train a (semantic) VAE; on several GPUs: accelerate launch -m svae_tts vae train",
                        description="GAN training of the (semantic) VAE (vae/train.py): one process, or one\n"
                                    "per GPU under accelerate launch.",
                        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, "training YAML, or the name of one in vae/configs (semantic_vae, acoustic_vae_dim64, "
                       "tiny_acoustic, tiny_semantic ...); none = TrainConfig's defaults", resume_default=None)
    p.set_defaults(func=_train)


def register(sub) -> None:
    vae = sub.add_parser("vae", help="Semantic-VAE: import released weights, encode, decode, reconstruct, train")
    cmds = vae.add_subparsers(dest="vae_command", metavar="VAE_COMMAND")
    vae.set_defaults(func=lambda args: vae.print_help() or EXIT_USER_ERROR)

    p = cmds.add_parser("import", help="convert a released Semantic-VAE folder into a model dir")
    p.add_argument("official_dir", help="release folder (metainfo.json, dac/*.pth) or owner/repo/subfolder on the hub "
                                        "(e.g. zkniu/Semantic-VAE/semantic_vae: only that folder is fetched)")
    p.add_argument("-o", "--out", required=True, help="model dir to write (config.json + model.safetensors)")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                   help="use dac/ema_state_dict.pth (default) or dac/weights.pth (--no-ema)")
    p.add_argument("--projector", action=argparse.BooleanOptionalAction, default=True,
                   help="also write the alignment projector to projector.safetensors (default)")
    p.add_argument("--name", default=None, help="model name in config.json (default: the folder name)")
    p.add_argument("--overwrite", action="store_true", help="replace out_dir if it exists")
    p.set_defaults(func=_import)

    for kind, help_, in_help, out_help in (
        ("encode", "audio -> latent safetensors (T, D)", f"audio files or folders ({AUDIO_FORMATS})",
         "folder for latent files"),
        ("decode", "latent safetensors -> wav", "latent .safetensors files or folders", "folder for wav files"),
        ("reconstruct", "audio -> latents -> wav", f"audio files or folders ({AUDIO_FORMATS})", "folder for wav files"),
    ):
        p = cmds.add_parser(kind, help=help_)
        p.add_argument("inputs", nargs="+", help=in_help)
        p.add_argument("-o", "--out", required=True, help=out_help)
        _model_args(p)
        if kind != "decode":
            _sampling_args(p)
        if kind == "encode":
            _release_args(p)
        p.set_defaults(func=_file_job(kind))
    _add_train(cmds)
