"""``svae-tts push DIR REPO_ID``: argument parsing only (the work is :func:`svae_tts.push.push`)."""

from __future__ import annotations

import argparse


def _push(args: argparse.Namespace) -> int:
    from svae_tts.cli import skipped_status
    from svae_tts.push import push

    plan = push(args.directory, args.repo_id, private=args.private, revision=args.revision,
                commit_message=args.commit_message, dry_run=args.dry_run, rewrite_card=args.rewrite_card,
                license=args.license)
    print(plan.describe())
    plan.check()  # a dry run lists refused files above, then fails as the push would
    where = f"https://huggingface.co/{plan.repo_id}" + (f"/tree/{args.revision}" if args.revision else "")
    print("dry run: nothing written or uploaded" if args.dry_run else f"uploaded to {where}")
    return skipped_status(plan.skipped)  # 3 when entries were left behind (named above and on stderr)


def register(sub) -> None:
    p = sub.add_parser("push", help="upload a VAE or TTS model dir to the Hugging Face hub (with a model card)",
                       description="Upload a model dir: only its safetensors, JSON, YAML, Markdown and text files; "
                                   "anything else (pickles, scripts, .npy ...) or a symlink refuses the push; what is not a "
                                   "regular file (a FIFO, a socket) is left behind and named. "
                                   "A dir without README.md gets a model card first; a card that names an "
                                   "absolute local path is warned about.")
    p.add_argument("directory", help="model dir: an export (RUN/exports/step_X) or a `vae import` output")
    p.add_argument("repo_id", help="hub repo, owner/name (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", default=None,
                   help="branch to upload to (created when missing; default main)")
    p.add_argument("--commit-message", default=None, help="commit message (default: 'Upload DIR with svae-tts push')")
    p.add_argument("--license", default=None, help="license id for a card written now (e.g. cc-by-4.0; "
                                                  "--rewrite-card keeps the old card's license without it)")
    p.add_argument("--rewrite-card", action="store_true",
                   help="render the dir's README.md again (kept by default): from config.json and the training "
                        "facts and metrics the old card shows when svae-tts wrote it; a card of your own has no "
                        "facts to recover, so it is replaced by one from config.json alone. Written only once "
                        "every check passes, never on --dry-run")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded; write and upload nothing")
    p.set_defaults(func=_push)
