"""``svae-tts data {build,espeak,features,train-ctc,latents}``: argument parsing only."""

from __future__ import annotations

import argparse
import json

from data_prep.sentences import MAX_MIN_WORDS, MIN_GRAMMAR_WORDS
from svae_tts.cli import (add_device_option, float_arg, int_arg, nonneg_float, nonneg_int, positive_float, positive_int, sample_rate_int,
                          seed_int, single_char)
from svae_tts.train_cli import add_config_options, config_overrides


def test_size(text: str) -> float:
    """``--test-size``: a fraction in [0, 1) or a whole number of utterances (0 = no test split)."""
    value = nonneg_float(text)
    if value >= 1 and not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a fraction below 1 nor a whole number of utterances")
    return value


def _split_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("splits and validation")
    g.add_argument("--test-size", type=test_size, default=0.05,
                   help="test fraction (<1) or count (>=1) of utterances; 0 = no test split (saved empty)")
    g.add_argument("--test-speakers", type=nonneg_int, default=0, help="hold out this many whole speakers as the test split")
    g.add_argument("--dev-speakers", type=nonneg_int, default=0,
                   help="hold out this many more whole speakers as a dev split, for tuning and validation "
                        "(needs --test-speakers; 0 = no dev split)")
    g.add_argument("--seed", type=seed_int, default=0, help="seed of the split (default 0)")
    g.add_argument("--min-duration", type=nonneg_float, default=0.2, help="seconds; shorter items are skipped")
    g.add_argument("--max-duration", type=float_arg(0, lo_open=True, allow_inf=True), default=30.0,
                   help="seconds; longer items are skipped (inf = no limit)")
    g.add_argument("--num-proc", type=positive_int, default=None, help="processes for validation")
    g.add_argument("--overwrite", action="store_true", help="replace an existing corpus built from other inputs")


def _split_specs(args):
    from data_prep.corpus import SplitSpec, ValidationLimits

    return (SplitSpec(test_size=args.test_size, test_speakers=args.test_speakers, seed=args.seed,
                      dev_speakers=args.dev_speakers),
            ValidationLimits(min_duration=args.min_duration, max_duration=args.max_duration))


def _skipped_status(out) -> int:
    """Exit 0, or 3 when the output's skipped-items report (``skipped.jsonl``) lists items, each then
    one line on stderr (:func:`svae_tts.cli.skipped_status`)."""
    from svae_tts.cli import skipped_status
    from svae_tts.formats.corpus import read_report

    return skipped_status([(str(s.get("path") or s.get("id")), str(s.get("reason"))) for s in read_report(out)])


def _summary(dd, out) -> int:
    print(json.dumps({"out": str(out), **{k: len(v) for k, v in dd.items()}}))
    return _skipped_status(out)


def _build(args) -> int:
    from data_prep import builders

    split, limits = _split_specs(args)
    common = dict(split=split, limits=limits, num_proc=args.num_proc, overwrite=args.overwrite)
    if args.kind == "libritts":
        dd = builders.build_libritts(args.source, args.out, transcript_suffix=args.transcript_suffix, **common)
    elif args.kind == "csv":
        dd = builders.build_csv(args.source, args.out, args.path_col, args.text_col, args.speaker_col or None,
                                args.id_col, args.delimiter, **common)
    else:
        dd = builders.build_hf(args.source, args.out, args.hf_config, args.hf_split, args.audio_col, args.text_col,
                               args.speaker_col or None, args.id_col or None, args.hf_data_dir, **common)
    return _summary(dd, args.out)


def _espeak(args) -> int:
    from data_prep.espeak_corpus import ESpeakCorpusConfig, build_espeak_corpus

    cfg = ESpeakCorpusConfig(hours=args.hours, voices=args.voices, seed=args.seed, sample_rate=args.sample_rate,
                             test_speakers=args.test_speakers, dev_speakers=args.dev_speakers, test_size=args.test_size,
                             min_words=args.min_words, max_words=args.max_words)
    return _summary(build_espeak_corpus(args.out, cfg, overwrite=args.overwrite), args.out)


def _features(args) -> int:
    from data_prep.features import extract_features

    out = extract_features(args.corpus, args.out, args.model, args.layer, args.batch_size,
                           shard_size=args.shard_size, splits=args.splits, dtype=args.dtype)
    print(json.dumps({"out": str(out)}))
    return _skipped_status(out)


def _train_ctc(args) -> int:
    from data_prep.ctc import CTCTrainConfig, train_ctc
    from svae_tts.config import load_config

    shortcuts = [f"{key}={getattr(args, key)}" for key in ("targets", "seed", "max_steps", "max_minutes", "batch_size", "lr")
                 if getattr(args, key) is not None]
    cfg = load_config(CTCTrainConfig, args.config, config_overrides(args, *shortcuts))
    info = train_ctc(args.corpus, args.out, cfg, device=args.device)
    print(json.dumps({k: info[k] for k in ("targets", "steps", "minutes", "params", "final_loss", "cer", "per", "eval_items") if k in info}))
    return 0


def _latents(args) -> int:
    from data_prep.latents import extract_latents

    out = extract_latents(args.corpus, args.out, args.model, args.batch_size, shard_size=args.shard_size,
                          sample=args.sample, seed=args.seed, overwrite=args.overwrite, keep_shards=args.keep_shards,
                          padding=args.padding)
    print(json.dumps({"out": str(out)}))
    return _skipped_status(out)


def _add_build(dsub) -> None:
    """``data build``: one parser for the three corpus sources; the column options apply to csv/hf only."""
    b = dsub.add_parser("build", help="build a corpus from a LibriTTS tree, a CSV/TSV or a Hugging Face dataset")
    b.add_argument("kind", choices=["libritts", "csv", "hf"], help="what SOURCE is: a LibriTTS tree, a CSV/TSV file "
                   "or a Hugging Face dataset")
    b.add_argument("source", help="folder (libritts), CSV/TSV file (csv), hub name or local folder (hf)")
    b.add_argument("-o", "--out", required=True, help="corpus folder to write")
    b.add_argument("--transcript-suffix", default=".normalized.txt", help="libritts: transcript file suffix")
    b.add_argument("--path-col", default="path", help="csv: audio path column")
    b.add_argument("--text-col", default="text", help="csv/hf: transcript column (default text)")
    b.add_argument("--speaker-col", default="speaker", help="csv/hf: speaker column (default speaker; '' for none)")
    b.add_argument("--id-col", default=None, help="csv/hf: utterance id column (default: made from the row)")
    b.add_argument("--delimiter", type=single_char, default=None,
                   help="csv: one-character field delimiter (default: tab for .tsv, else comma; \\t = tab)")
    b.add_argument("--audio-col", default="audio", help="hf: audio column (paths or the Audio feature)")
    b.add_argument("--hf-config", default=None, help="hf: dataset config name")
    b.add_argument("--hf-split", default=None, help="hf: split to read (default: all, concatenated)")
    b.add_argument("--hf-data-dir", default=None, help="hf: data_dir for load_dataset")
    _split_args(b)
    b.set_defaults(func=_build)


def _add_espeak(dsub) -> None:
    """``data espeak``: the embedded offline corpus, synthesised with eSpeak NG."""
    e = dsub.add_parser("espeak", help="synthesise the embedded offline English corpus with eSpeak NG")
    e.add_argument("-o", "--out", required=True, help="corpus folder to write")
    e.add_argument("--hours", type=positive_float, default=1.0, help="hours of speech to synthesise (default 1)")
    e.add_argument("--voices", type=positive_int, default=24, help="number of speakers")
    e.add_argument("--seed", type=seed_int, default=0, help="seed of the voices, sentences and split (default 0)")
    e.add_argument("--sample-rate", type=sample_rate_int, default=16000, help="Hz (default 16000)")
    e.add_argument("--test-speakers", type=nonneg_int, default=0, help="hold out this many speakers (fewer than --voices)")
    e.add_argument("--dev-speakers", type=nonneg_int, default=0,
                   help="hold out this many more speakers as a dev split, for tuning and validation (needs "
                        "--test-speakers; dev and test speakers read held-out sentences)")
    e.add_argument("--test-size", type=test_size, default=0.05,
                   help="test fraction (<1) or count (>=1) of utterances when no --test-speakers (default 0.05)")
    e.add_argument("--min-words", type=int_arg(1, MAX_MIN_WORDS), default=3, help="fewest words in a sentence (default 3)")
    e.add_argument("--max-words", type=int_arg(MIN_GRAMMAR_WORDS), default=24, help="at least --min-words")
    e.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    e.set_defaults(func=_espeak)


def _add_features(dsub) -> None:
    """``data features``: teacher hidden states for the VAE's distillation loss."""
    f = dsub.add_parser("features", help="teacher hidden states (any transformers speech encoder) as safetensors shards")
    f.add_argument("--corpus", required=True, help="corpus folder (svae-tts data build/espeak)")
    f.add_argument("-m", "--model", required=True,
                   help="the teacher: a transformers speech encoder dir or hub id (e.g. microsoft/wavlm-large)")
    f.add_argument("--layer", type=int_arg(), default=-1, help="index into hidden_states (0 = before the first layer)")
    f.add_argument("-o", "--out", required=True, help="teacher-feature folder to write")
    f.add_argument("--batch-size", type=positive_int, default=8, help="clips per forward pass (default 8)")
    f.add_argument("--shard-size", type=positive_int, default=256, help="utterances per shard file (default 256)")
    f.add_argument("--splits", nargs="*", default=None, help="corpus splits to extract (default: all)")
    f.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="stored precision (default float32)")
    f.set_defaults(func=_features)


def _add_train_ctc(dsub) -> None:
    """``data train-ctc``: the trainers' shared options (svae_tts.train_cli; no --resume: it keeps no
    checkpoints, a run takes minutes and writes its model once, at the end); the other options
    are shortcuts for ``KEY=VALUE`` overrides of CTCTrainConfig."""
    c = dsub.add_parser("train-ctc", help="train a small Wav2Vec2ForCTC (offline teacher / ASR judge); on several "
                                          "GPUs: accelerate launch -m svae_tts data train-ctc",
                        description="Train a small Wav2Vec2ForCTC on a corpus (data_prep/ctc.py): one process, or one\n"
                                    "per GPU under accelerate launch.",
                        epilog="example:\n  svae-tts data train-ctc --corpus CORPUS --out runs/ctc max_steps=800 lr=2e-3",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--corpus", required=True, help="corpus folder to train on (its train split; test for CER/PER)")
    c.add_argument("-o", "--out", required=True, help="CTC model dir to write")
    add_config_options(c, "YAML of CTCTrainConfig (data_prep/ctc.py); none = its defaults")
    c.add_argument("--targets", choices=["char", "phoneme"], default=None,
                   help="what the model writes: characters (an ASR judge) or eSpeak phonemes (a teacher); "
                        "shortcut for targets=")
    c.add_argument("--seed", type=seed_int, default=None, help="training seed (shortcut for seed=)")
    c.add_argument("--max-steps", dest="max_steps", type=positive_int, default=None,
                   help="training steps, the budget (shortcut for max_steps=)")
    c.add_argument("--max-minutes", dest="max_minutes", type=positive_float, default=None,
                   help="safety cap: fail if training takes longer (the budget is --max-steps)")
    c.add_argument("--batch-size", dest="batch_size", type=positive_int, default=None,
                   help="clips per step (shortcut for batch_size=)")
    c.add_argument("--lr", type=positive_float, default=None, help="learning rate (shortcut for lr=)")
    add_device_option(c)
    c.set_defaults(func=_train_ctc)


def _add_latents(dsub) -> None:
    """``data latents``: the VAE latent set the TTS recipes train on."""
    lt = dsub.add_parser("latents", help="encode a corpus with a VAE into a latent set (+ normalisation stats)")
    lt.add_argument("--corpus", required=True, help="corpus folder to encode")
    lt.add_argument("-m", "--model", required=True,
                    help="the VAE: model dir, hub id, or release reference such as zkniu/Semantic-VAE/semantic_vae")
    lt.add_argument("-o", "--out", required=True, help="latent-set folder to write")
    lt.add_argument("--batch-size", type=positive_int, default=8, help="clips per encode (default 8)")
    lt.add_argument("--shard-size", type=positive_int, default=256, help="utterances per shard file (default 256)")
    lt.add_argument("--padding", choices=["margin", "release"], default="margin",
                    help="how each clip is padded before encoding. margin (default): 0.5 s of trailing zeros, then "
                         "trimmed to ceil(N/hop) frames, so a clip's last frames do not depend on its batch-mates, the "
                         "batch size or the process count. release: as the release's scripts/extract_latent.py (each "
                         "clip alone, padded to the hop only; with --sample, its seeded noise stream), for sets that "
                         "mix with ones its script made. The two differ in every clip's last ~12 frames; the set "
                         "records which made it, and a folder holding a set made the other way is refused")
    lt.add_argument("--sample", action="store_true", help="store posterior samples instead of the mean")
    lt.add_argument("--seed", type=seed_int, default=None,
                    help="noise seed for --sample: default 0 (noise drawn per utterance from seed and id), or 42 "
                         "with --padding release (the release script's --global_seed; one noise stream per process "
                         "seeded seed*processes+rank, as there)")
    lt.add_argument("--overwrite", action="store_true", help="replace an earlier latent set at --out")
    lt.add_argument("--keep-shards", action="store_true", help="keep the per-process shards after assembling the set")
    lt.set_defaults(func=_latents)


def register(sub) -> None:
    """The ``data`` command: one ``_add_*`` per step, each holding that step's options."""
    data = sub.add_parser("data", help="corpora, the embedded eSpeak corpus, teacher features, CTC judge, VAE latents")
    dsub = data.add_subparsers(dest="data_command", metavar="STEP", required=True)
    for add in (_add_build, _add_espeak, _add_features, _add_train_ctc, _add_latents):
        add(dsub)
