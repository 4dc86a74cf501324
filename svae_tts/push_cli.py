"""``svae-tts push DIR REPO_ID``: argument parsing only (the work is :func:`svae_tts.push.push`)."""

from __future__ import annotations

import argparse


def _push(args: argparse.Namespace) -> int:
    from svae_tts.push import push

    plan = push(args.directory, args.repo_id, private=args.private, revision=args.revision,
                commit_message=args.commit_message, dry_run=args.dry_run, rewrite_card=args.rewrite_card,
                license=args.license)
    print(plan.describe())
    where = f"https://huggingface.co/{plan.repo_id}" + (f"/tree/{args.revision}" if args.revision else "")
    print("dry run: nothing written or uploaded" if args.dry_run else f"uploaded to {where}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("push", help="upload a VAE or TTS model dir to the Hugging Face hub (with a model card)",
                       description="Upload a model dir (config.json + safetensors; pickles and scripts are refused). "
                                   "A dir without README.md gets a model card first.")
    p.add_argument("directory", help="model dir: an export (RUN/exports/step_X) or a `vae import` output")
    p.add_argument("repo_id", help="hub repo, owner/name (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", "--branch", dest="revision", default=None,
                   help="branch to upload to (created when missing; default main)")
    p.add_argument("--commit-message", default=None, help="commit message (default: 'Upload DIR with svae-tts push')")
    p.add_argument("--license", default=None, help="license id for a card written now (e.g. cc-by-4.0)")
    p.add_argument("--rewrite-card", action="store_true",
                   help="replace the dir's README.md with a card made from config.json (kept by default)")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded; write and upload nothing")
    p.set_defaults(func=_push)
