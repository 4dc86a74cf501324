"""``svae-tts synthesize`` and ``svae-tts tts train``: argument parsing only, the work is in Python functions."""

from __future__ import annotations

import argparse

from svae_tts.audio import AUDIO_FORMATS
from svae_tts.cli import add_device_option, float_arg
from svae_tts.train_cli import add_run_options, config_overrides
from svae_tts.errors import EXIT_USER_ERROR
from tts_recipes.errors import TTSError
from tts_recipes.synthesis_settings import MAX_DURATION, SynthesisSettings, add_synthesis_options
TRAIN_EPILOG = """examples:
  svae-tts tts train --config tiny data.latent_set=LATENT_SET run_dir=runs/tts max_steps=500
  accelerate launch -m svae_tts tts train --config base data.latent_set=LATENT_SET --resume auto
  (python -m tts_recipes.train ... is the same command)"""


def _synthesize(args: argparse.Namespace) -> int:
    from svae_tts.audio import audio_info, audio_output_format, save_audio
    from svae_tts.cli import skipped_status
    from svae_tts.fileio import OutputManifest, guard_output
    from tts_recipes.batch_list import read_batch_tsv
    from tts_recipes.synthesis import SYNTHESIZE_COMMAND, SKIPPED_FILE, Synthesizer, check_batch_output, sampling_times

    settings = SynthesisSettings.from_args(args)
    load = dict(device=args.device, max_ref_seconds=args.max_ref_seconds, asr=args.asr, decoder_dtype=args.decoder_dtype)
    if args.batch:
        # the list, then the output folder, before the model loads (each a one-line error, exit 2)
        guard_output(args.out, [args.batch, args.model, args.ref_audio], overwrite=args.overwrite, exists_ok=True,
                     command=SYNTHESIZE_COMMAND)
        rows = read_batch_tsv(args.batch, args.ref_audio, args.ref_text, asr=args.asr is not None)
        check_batch_output(rows, args.out, args.overwrite)
        synth = Synthesizer.from_pretrained(args.model, **load)
        written, skipped = synth.synthesize_batch(rows, args.out, overwrite=args.overwrite, settings=settings)
        kept = len(rows) - len(written) - len(skipped)
        print(f"wrote {len(written)} file(s) to {args.out}" + (f", kept {kept} already there" if kept else "")
              + (f"; skipped {len(skipped)} (listed in {SKIPPED_FILE})" if skipped else ""))
        return skipped_status(skipped)
    if not args.text or args.ref_audio is None or (args.ref_text is None and args.asr is None):
        raise TTSError("give --text, --ref-audio and --ref-text (or --asr CTC_MODEL to transcribe the reference; "
                       "or --batch list.tsv)")
    # everything that needs no model first: the output's name and place, then the reference's header
    out = guard_output(args.out, [args.ref_audio, args.model], overwrite=args.overwrite, kind="file",
                       command=SYNTHESIZE_COMMAND)
    audio_output_format(out)
    audio_info(args.ref_audio)
    synth = Synthesizer.from_pretrained(args.model, **load)
    wav = synth.synthesize(args.text, args.ref_audio, args.ref_text, settings)
    save_audio(out, wav, synth.sample_rate, overwrite=args.overwrite)
    OutputManifest.of(out.parent).add(SYNTHESIZE_COMMAND, out)  # so --overwrite may replace it later
    print(f"wrote {args.out} ({wav.numel() / synth.sample_rate:.2f} s at {synth.sample_rate} Hz, seed {synth.last_seed})")
    schedule = "EPSS" if args.epss and synth.last_schedule != sampling_times(args.nfe, False, args.sway) else "uniform"
    print(f"NFE {args.nfe}, {schedule} schedule: t = {', '.join(f'{t:.3f}' for t in synth.last_schedule)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tts_recipes.train import load_train_config, train

    result = train(load_train_config(args.config, config_overrides(args)))
    print(f"trained to step {result['step']} in {result['run_dir']} ({result['s_per_step']:.3f} s/step)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("synthesize", help="zero-shot TTS with a trained model (latent or mel)",
                       description="Speech for --text in the voice of --ref-audio, whose transcript is --ref-text.")
    p.add_argument("-m", "--model", required=True, help="TTS model dir (e.g. RUN/exports/step_00010000) or hub id")
    p.add_argument("--ref-audio", help=f"reference speech ({AUDIO_FORMATS})")
    p.add_argument("--ref-text", help="transcript of the reference (without it, --asr transcribes the reference)")
    p.add_argument("--text", help="text to speak")
    p.add_argument("--batch", help="TSV: name<TAB>text, or name<TAB>ref_audio<TAB>ref_text<TAB>text; -o is then a folder")
    p.add_argument("-o", "--out", required=True, help="output wav (a folder with --batch)")
    add_synthesis_options(p.add_argument_group("synthesis"))
    p.add_argument("--decoder-dtype", choices=["float32", "bfloat16"], default="float32",
                   help="precision of the VAE decode (bfloat16: ~1.6x the fp32 decode on CPUs with bf16 units, "
                        "waveform error of a few 1e-3)")
    p.add_argument("--max-ref-seconds", type=float_arg(0, MAX_DURATION, lo_open=True), default=15.0,
                   help="longest reference used (default 15); a longer one is refused, as its transcript would "
                        "not match a cut, unless --asr transcribes the part kept")
    p.add_argument("--asr", default=None, metavar="CTC_MODEL",
                   help="character CTC model dir (svae-tts data train-ctc) or hub id: transcribes a reference given "
                        "without --ref-text (a warning shows what it heard), and the part kept of one over "
                        "--max-ref-seconds, cut at a pause")
    add_device_option(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files synthesize wrote earlier (never a file it did not write)")
    p.set_defaults(func=_synthesize)

    t = sub.add_parser("tts", help="TTS training")
    tsub = t.add_subparsers(dest="tts_command", metavar="SUBCOMMAND")
    tr = tsub.add_parser("train", help="train a flow-matching DiT on latents or mel; on several GPUs: "
                                       "accelerate launch -m svae_tts tts train",
                         description="Train F5-TTS's DiT on a feature space (tts_recipes/train.py): one process, or\n"
                                     "one per GPU under accelerate launch.",
                         epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(tr, "preset name (tiny, mini, small, base) or YAML path", resume_default="auto",
                    config_required=True)
    tr.set_defaults(func=_train)
    t.set_defaults(func=lambda args: (t.print_help(), EXIT_USER_ERROR)[1])
