"""``svae-tts eval convergence``: which feature space gets a TTS model to good WER/SIM/MOS in fewer steps.

For every run dir and every exported checkpoint (``run_dir/exports/step_XXXXXXXX/``) the test list
is synthesised with fixed per-item seeds (item ``i`` always gets ``seed + i``, so checkpoints and
runs differ only by their weights), scored by one :class:`~eval.scoring.Scorer`, and the result is
cached as ``<out>/cache/<run>/step_XXXXXXXX.json``. A cache entry is reused when its fingerprint
(test list, judges, synthesis settings, checkpoint file size and mtime) still matches, so re-running
after more training only scores the new checkpoints. A checkpoint that fails is reported and
skipped (not cached: the next run retries it).

Outputs: ``results.csv`` (one row per run and step), ``results.json`` (rows, per-utterance cache
paths, thresholds, failures), ``report.md`` and ``convergence.png`` (lp_gain, WER, SIM, MOS against steps,
one line per run) plus ``steps_to_threshold.png``; with several seeds per arm (runs named
``<arm>_s<seed>``) also ``seeds.md`` and ``convergence_seeds.png`` (:mod:`eval.seeds`).

Synthesis is a parameter (``synth_factory(model_dir) -> synth(item, seed) -> (wav, sr)``); the
default wraps ``tts_recipes.synthesis.Synthesizer``; :func:`vae_recon_synth_factory` scores VAE runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from eval.errors import EvalError
from eval.report import finite
from eval.convergence_report import write_items_csv, write_outputs
from eval.scoring import (MOS_HEADLINES, Scorer, add_text_gains, aggregate, chance_error_rates, compare_pairs, other_texts,
                          paired_test)
from eval.testlist import TestItem, item_audio
from svae_tts.audio import load_audio, save_audio
from svae_tts.errors import nothing_done
from svae_tts.fileio import OutputManifest, atomic_write_json, guard_output
from svae_tts.boundary import item_boundary
from svae_tts.run_state import EXPORTS_DIR, list_exports, step_name
from svae_tts.textio import read_json
from tts_recipes.synthesis_settings import SynthesisSettings, setting, with_default

log = logging.getLogger(__name__)

SynthFn = Callable[[TestItem, int], tuple[torch.Tensor, int]]
SynthFactory = Callable[[Path], SynthFn]


@dataclass(frozen=True)
class EvalSynthesis(SynthesisSettings):
    """The synthesis settings (:class:`~tts_recipes.synthesis_settings.SynthesisSettings`) and what a
    test list adds: ``seed`` is the base of the per-item seeds (item ``i`` gets ``seed + i``, 0 by
    default, so checkpoints differ only by their weights), and each item may be given its
    ground-truth duration."""

    seed: int | None = with_default("seed", 0)
    use_target_duration: bool = setting(False, None, "give the synthesiser each item's ground-truth duration "
                                                     "(F5-TTS's eval uses the ratio of the texts)")


def audio_dir(out_dir: str | os.PathLike, run: str, step: int) -> Path:
    """Where :func:`run_convergence` keeps the wavs it synthesised with ``run``'s checkpoint at ``step``."""
    return Path(out_dir) / "audio" / run / step_name(step)


def find_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, model_dir)`` for each ``exports/step_XXXXXXXX/`` holding a ``config.json``, by step."""
    if not (Path(run_dir) / EXPORTS_DIR).is_dir():
        raise EvalError(f"{run_dir}: not a TTS run dir (no exports/ folder with step_XXXXXXXX model dirs)")
    return list_exports(run_dir)


def synthesizer_fn(synth, settings: EvalSynthesis | None = None) -> SynthFn:
    """Synthesise test items with an already loaded ``Synthesizer`` under ``settings`` (so several
    settings can share one loaded model and its reference cache)."""
    settings = settings or EvalSynthesis()

    def run(item: TestItem, seed: int) -> tuple[torch.Tensor, int]:
        duration = item.target_duration if settings.use_target_duration else settings.duration
        wav = synth.synthesize(item.text, item.prompt_audio, item.prompt_text, settings, seed=seed, duration=duration)
        return wav.detach().float().cpu().reshape(-1), int(synth.sample_rate)

    return run


def tts_synth_factory(device: str = "cpu", settings: EvalSynthesis | None = None) -> SynthFactory:
    """The default: load an exported TTS model dir with ``Synthesizer`` and synthesise each item."""

    def factory(model_dir: Path) -> SynthFn:
        try:
            from tts_recipes.synthesis import Synthesizer
        except ImportError as exc:
            raise EvalError(f"synthesis needs tts_recipes.synthesis.Synthesizer, which is not installed ({exc})") from None
        return synthesizer_fn(Synthesizer.from_pretrained(str(model_dir), device=device), settings)

    return factory


def vae_recon_synth_factory(device: str = "cpu") -> SynthFactory:
    """For VAE run dirs (``vae.train`` exports VAE model dirs the same way): reconstruct each item's target.

    The convergence machinery then tracks intelligibility/SIM/MOS of reconstructions against VAE
    training steps; it says nothing about a TTS model.
    """
    from eval.codecs import vae_codec

    def factory(model_dir: Path) -> SynthFn:
        codec = vae_codec(str(model_dir), device)

        def run(item: TestItem, seed: int) -> tuple[torch.Tensor, int]:
            if not item.target_audio:
                raise EvalError(f"test item {item.id}: no target audio to reconstruct")
            wav, sr = load_audio(item.target_audio, codec.sample_rate)
            return codec.reconstruct(wav), sr

        return run

    return factory


def _fingerprint(items: list[TestItem], scorer: Scorer, settings: EvalSynthesis, model_dir: Path) -> str:
    """What a cache entry was made from. Settings left unset (``None``) are left out, so adding an
    optional setting does not invalidate the caches written before it."""
    weights = sorted(p for p in model_dir.iterdir() if p.is_file())
    stamp = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in weights]
    blob = json.dumps({"items": [asdict(i) for i in items], "judges": scorer.describe(),
                       "synthesis": {k: v for k, v in asdict(settings).items() if v is not None}, "weights": stamp}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def evaluate_model(synth: SynthFn, items: list[TestItem], scorer: Scorer, seed: int = 0,
                   audio_dir: Path | None = None, desc: str = "synthesise+score") -> tuple[list[dict], list[dict]]:
    """Synthesise and score every item; returns (rows, failed items). Prompt audio is read per item."""
    rows, failed = [], []
    for i, item in enumerate(tqdm(items, desc=desc, unit="utt", leave=False)):
        with item_boundary(item.id, log) as outcome:  # one bad item must not sink the checkpoint
            wav, sr = synth(item, seed + i)
            prompt = load_audio(item.prompt_audio)
            row = scorer.score(wav, sr, text=item.text, sim_ref=prompt, sim_ref_key=str(item.prompt_audio),
                               other_texts=other_texts(items, i))
        if outcome.failed:
            failed.append({"id": item.id, "reason": outcome.reason})
            continue
        if audio_dir is not None:
            save_audio(audio_dir / f"{item.id}.wav", wav, sr, overwrite=True)
        rows.append({"id": item.id, "seed": seed + i, "duration": wav.numel() / sr, **row})
    return add_text_gains(rows), failed


def _is_whole_entry(entry: dict) -> bool:
    """An entry's summary is a row of numbers by name and its utterances a list of records."""
    utterances = entry.get("utterances", [])
    return isinstance(entry.get("summary"), dict) and isinstance(utterances, list) \
        and all(isinstance(u, dict) for u in utterances)


def _cached_entry(cache: Path, fingerprint: str) -> dict | None:
    """The cache entry of a checkpoint when it was scored with these items, judges and settings.

    A damaged entry (cut short, not UTF-8, not an object, its summary or utterances of the wrong
    kind) is a miss like any other: the checkpoint is scored again and the entry rewritten."""
    if not cache.is_file():
        return None
    try:
        entry = read_json(cache, dict, error=EvalError)
    except EvalError as exc:
        log.warning("%s; scoring the checkpoint again", exc)
        return None
    if entry.get("fingerprint") != fingerprint or not _is_whole_entry(entry):
        return None
    if not any(k.endswith("_chance") for k in entry["summary"]):
        # a cache written before chance levels existed: compute them once from its transcripts
        # and store them, so later reuses cost nothing
        chance = chance_error_rates(entry.get("utterances", []))
        if chance:
            entry["summary"] = {**entry["summary"], **chance}
            atomic_write_json(cache, entry)
    return entry


def _plan(runs: list[tuple[str, str | os.PathLike]], steps: list[int] | None) -> list[tuple[str, Path, int, Path]]:
    """(run, run dir, step, export dir) of every checkpoint to score, ``steps`` only when given."""
    plan = []
    for name, run_dir in runs:
        ckpts = find_checkpoints(run_dir)
        if steps:
            ckpts = [c for c in ckpts if c[0] in set(steps)]
        if not ckpts:
            log.warning("%s: no exported checkpoints in %s/exports", name, run_dir)
        plan += [(name, Path(run_dir), step, mdir) for step, mdir in ckpts]
    return plan


@dataclass
class Scored:
    """What :func:`score_checkpoints` found: a summary row per scored checkpoint, its per-item rows
    (for the paired tests), the checkpoints that failed, and how many rows came from the cache."""

    rows: list[dict]
    utterances: dict[tuple[str, int], list[dict]]
    failures: list[dict]
    reused: int


def score_checkpoints(runs: list[tuple[str, str | os.PathLike]], items: list[TestItem], out_dir: str | os.PathLike,
                      scorer: Scorer | None = None, synth_factory: SynthFactory | None = None,
                      settings: EvalSynthesis | None = None, steps: list[int] | None = None,
                      keep_audio: bool = True, device: str = "cpu") -> Scored:
    """Synthesise and score every exported checkpoint of every run into ``out_dir``'s cache (reusing
    what it holds, without loading the judges when it holds everything); writes nothing else. Each run writes only under ``cache/<run>/`` and its own audio
    folders, so processes scoring different runs into one ``out_dir`` at once do not meet, and a
    :func:`run_convergence` over all of them afterwards scores nothing again."""
    if not runs:
        raise EvalError("no runs given (use NAME=RUN_DIR)")
    if not items:
        raise EvalError("the test list is empty")
    # recognised by its manifest, or by the cache a scoring process beside this one may have begun
    out_dir = guard_output(out_dir, [*(run_dir for _, run_dir in runs), *item_audio(items)], exists_ok=True,
                           command=CONVERGENCE_COMMAND, markers=("cache",))
    settings = settings or EvalSynthesis()
    scorer = scorer or Scorer(device=device)  # its judges are loaded once something needs scoring
    synth_factory = synth_factory or tts_synth_factory(device, settings)
    scored = Scored([], {}, [], 0)
    for name, run_dir, step, mdir in tqdm(_plan(runs, steps), desc="checkpoints", unit="ckpt"):
        cache = cache_path(out_dir, name, step)
        fp = _fingerprint(items, scorer, settings, mdir)
        entry = _cached_entry(cache, fp)
        if entry is not None:
            scored.rows.append(entry["summary"])
            scored.utterances[(name, step)] = entry.get("utterances", [])
            scored.reused += 1
            continue
        scorer.load()  # a missing judge fails here, before any synthesis (not as a checkpoint's failure)
        t0 = time.time()
        # a broken checkpoint is reported and skipped, never cached
        with item_boundary(f"{name} step {step} ({mdir})", log) as outcome:
            synth = synth_factory(mdir)
            wav_dir = audio_dir(out_dir, name, step) if keep_audio else None
            utt_rows, failed = evaluate_model(synth, items, scorer, settings.seed, wav_dir, desc=f"{name} step {step}")
            if not utt_rows:
                raise EvalError(f"every item failed (first: {failed[0]['reason'] if failed else '?'})")
        if outcome.failed:
            scored.failures.append({"run": name, "step": step, "model_dir": str(mdir), "reason": outcome.reason})
            continue
        summary = {"run": name, "step": step, **aggregate(utt_rows), "failed_items": len(failed),
                   "seconds": time.time() - t0}
        atomic_write_json(cache, {"fingerprint": fp, "model_dir": str(mdir), "summary": summary,
                                  "utterances": utt_rows, "failed_items": failed})
        scored.rows.append(summary)
        scored.utterances[(name, step)] = utt_rows
    return scored


def run_convergence(
    runs: list[tuple[str, str | os.PathLike]],
    items: list[TestItem],
    out_dir: str | os.PathLike,
    scorer: Scorer | None = None,
    synth_factory: SynthFactory | None = None,
    settings: EvalSynthesis | None = None,
    steps: list[int] | None = None,
    keep_audio: bool = True,
    wer_threshold: float | None = None,
    sim_threshold: float | None = None,
    device: str = "cpu",
    cer_threshold: float | None = None,
    primary: str | None = None,
) -> dict:
    """Score every checkpoint of every run (:func:`score_checkpoints`, cached), then write the
    CSV/JSON/report/plots. Returns results.

    Runs named ``<arm>_s<seed>`` with two or more seeds in an arm are also compared over their
    seeds (:mod:`eval.seeds`: curves with their spread, each seed's steps to ``cer_threshold`` and to
    the acoustic arm's final mean, paired tests pooled over seeds) into ``results["seeds"]``,
    ``seeds.md`` and ``convergence_seeds.png``: one seed per arm cannot tell an arm's effect from
    seed-to-seed spread."""
    settings = settings or EvalSynthesis()
    scorer = scorer or Scorer(device=device)  # score_checkpoints loads it
    scored = score_checkpoints(runs, items, out_dir, scorer, synth_factory, settings, steps, keep_audio, device)
    if not scored.rows:  # every checkpoint failed: nothing was cached, no report of nothing is written
        raise nothing_done(CONVERGENCE_COMMAND, [(f"{f['run']} step {f['step']}", f["reason"]) for f in scored.failures])
    from eval.seeds import group_runs, primary_endpoint, seed_summary

    names = [n for n, _ in runs]
    rows = sorted(scored.rows, key=lambda r: (names.index(r["run"]), r["step"]))
    thresholds = steps_to_threshold(rows, names, wer_threshold, sim_threshold)
    primary = primary_endpoint(rows, primary)
    results = {"runs": {n: str(d) for n, d in runs}, "judges": scorer.describe(), "synthesis": asdict(settings),
               "num_items": len(items), "splits": sorted({i.split for i in items if i.split}), "rows": rows, "thresholds": thresholds, "primary": primary,
               "paired": paired_comparisons(scored.utterances, names, primary), "failures": scored.failures,
               "reused_from_cache": scored.reused, "scored_now": len(rows) - scored.reused}
    if any(len(seeds) > 1 for seeds in group_runs(names).values()):
        results["seeds"] = seed_summary(results, scored.utterances, metric="cer", threshold=cer_threshold,
                                        primary=primary)
    out_dir = Path(out_dir)
    write_outputs(results, out_dir)
    write_items_csv(scored.utterances, names, out_dir / "items.csv")
    manifest = OutputManifest.of(out_dir)
    manifest.claim(CONVERGENCE_COMMAND)
    manifest.add(CONVERGENCE_COMMAND, *(p for p in out_dir.iterdir() if p.is_file() and p.name in CONVERGENCE_FILES))
    return results


CONVERGENCE_COMMAND = "eval convergence"  # the command name in the output folder's manifest
CONVERGENCE_FILES = ("results.csv", "results.json", "convergence.png", "steps_to_threshold.png", "report.md", "seeds.md",
                     "convergence_seeds.png", "items.csv")  # what the report writes at the folder's top


def cache_path(out_dir: str | os.PathLike, run: str, step: int) -> Path:
    """Where :func:`run_convergence` caches the scores of one checkpoint (summary and per-item rows)."""
    return Path(out_dir) / "cache" / run / f"{step_name(step)}.json"


PAIRED_RUN_METRICS = ("lp_gain", "lp", "wer", "cer", "sim")  # and the MOS scored; the primary endpoint first


def paired_comparisons(utterances: dict[tuple[str, int], list[dict]], names: list[str],
                       primary: str | None = None) -> list[dict]:
    """Every pair of runs compared item by item (:func:`eval.scoring.compare_pairs` with
    :func:`eval.scoring.paired_test`) at the last step both scored, on LP gain, LP, WER, CER, SIM
    and MOS (those scored; ``primary`` first), with ``holm_p`` adjusted over the metrics of the
    pair. A comparison of these two models, the only basis on which a report may call one run
    better than another; never of their arms."""
    metrics = PAIRED_RUN_METRICS + MOS_HEADLINES  # one MOS judge scores one of them
    metrics = sorted(metrics + ((primary,) if primary and primary not in metrics else ()), key=lambda m: m != primary)

    def last_common_step(a: str, b: str):
        common = {s for n, s in utterances if n == a} & {s for n, s in utterances if n == b}
        if not common:
            return None
        step = max(common)
        return utterances[(a, step)], utterances[(b, step)], {"step": step}

    return compare_pairs(names, last_common_step, paired_test, metrics)


def steps_to_threshold(rows: list[dict], names: list[str], wer_threshold: float | None, sim_threshold: float | None) -> dict:
    """First step at which each run reaches the WER / SIM threshold (None = never).

    Default thresholds are the level every run reaches: the worst of the runs' best WERs and the
    lowest of the runs' best SIMs, so the comparison is always defined and asks "who got there first".
    """
    by_run = {n: [r for r in rows if r["run"] == n] for n in names}

    def best(metric, fn):
        vals = [fn(r[metric] for r in rs if finite(r.get(metric))) for rs in by_run.values()
                if any(finite(r.get(metric)) for r in rs)]
        return vals

    out: dict = {"wer": {}, "sim": {}}
    if wer_threshold is None:
        bests = best("wer", min)
        wer_threshold = max(bests) if bests else None
    if sim_threshold is None:
        bests = best("sim", max)
        sim_threshold = min(bests) if bests else None
    out["wer_threshold"], out["sim_threshold"] = wer_threshold, sim_threshold
    for n, rs in by_run.items():
        out["wer"][n] = next((r["step"] for r in rs if wer_threshold is not None and finite(r.get("wer"))
                              and r["wer"] <= wer_threshold + 1e-12), None)
        out["sim"][n] = next((r["step"] for r in rs if sim_threshold is not None and finite(r.get("sim"))
                              and r["sim"] >= sim_threshold - 1e-12), None)
    return out

