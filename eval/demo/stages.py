"""The demo's stages: each calls the Python function a user would call by hand, with a typed config.

A stage loads the stage's own preset or training config, then sets the fields the demo's budget
fixes (``dataclasses.replace``, so every value is range-checked as it is set) and returns a small
JSON-able summary that ``stages.json`` keeps. Both arms get the same budget and seed: the only
difference between them is the alignment loss.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from eval.demo.config import ARMS, DemoBudget, tts_runs

C = TypeVar("C")


def _with(cfg: C, **changes: Any) -> C:
    """``cfg`` with the given fields set; a change of ``None`` keeps the config's own value."""
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def _fresh(path: Path) -> Path:
    """An unfinished stage's leftovers in our own output folder are ours to clear."""
    if path.exists():
        shutil.rmtree(path)
    return path


def corpus(out: Path, b: DemoBudget, seed: int) -> dict:
    from data_prep.espeak_corpus import ESpeakCorpusConfig, build_espeak_corpus

    cfg = ESpeakCorpusConfig(hours=b.corpus_hours, voices=b.voices, seed=seed, test_speakers=b.test_speakers,
                             dev_speakers=b.dev_speakers, max_utterances=b.corpus_max_utterances)
    dd = build_espeak_corpus(out / "corpus", cfg, num_proc=min(2, os.cpu_count() or 1))
    return {split: {"utterances": len(ds), "hours": float(sum(ds["duration"])) / 3600,
                    "speakers": len(set(ds["speaker"]))} for split, ds in dd.items()}


def ctc(out: Path, name: str, targets: str, seed: int, steps: int, device: str) -> dict:
    """A small CTC model on the corpus: the teacher (phoneme targets) or the judge (characters)."""
    from data_prep.ctc import CTCTrainConfig, train_ctc

    cfg = CTCTrainConfig(targets=targets, seed=seed, max_steps=steps)
    return train_ctc(out / "corpus", _fresh(out / name), cfg, device=device)


def vae_config(out: Path, arm: str, b: DemoBudget, seed: int):
    """The shipped CPU training config of ``arm`` (``tiny_semantic`` / ``tiny_acoustic``) at the demo's budget."""
    from svae_tts.config import load_config
    from vae.train_config import TrainConfig, training_config_path

    base = load_config(TrainConfig, training_config_path(f"tiny_{arm}"))
    every = max(1, b.vae_steps // 4)
    teacher, loss = base.teacher, base.loss
    if arm == "semantic":
        teacher = replace(teacher, model=str(out / "teacher"), layer=-1, target=b.vae_align_target)
        loss = replace(loss, align_weight=b.vae_align_weight, align_start_step=b.vae_align_start)
    return replace(
        base, run_dir=str(out / f"vae_{arm}"), seed=seed, vae=b.vae_preset, vae_overrides=list(b.vae_overrides),
        max_steps=b.vae_steps,
        save_every=every,
        valid_every=every, audio_every=b.vae_steps, export_every=0, resume="auto", teacher=teacher,
        data=replace(base.data, train=str(out / "corpus"), batch_size=b.vae_batch_size,
                     segment_seconds=b.vae_segment_seconds, num_workers=0),
        loss=replace(loss, disc_start_step=b.vae_disc_start, adv_start_step=b.vae_adv_start))


def _unfinished(run_dir: Path) -> Path:
    """A training stage stopped before its first checkpoint left a run dir the trainer will not
    resume (nothing to resume from) and will not overwrite unasked; it is ours to clear."""
    from svae_tts.run_state import latest_checkpoint

    if run_dir.is_dir() and latest_checkpoint(run_dir) is None:
        _fresh(run_dir)
    return run_dir


def vae(out: Path, arm: str, b: DemoBudget, seed: int) -> dict:
    from vae.train import train

    cfg = vae_config(out, arm, b, seed)
    _unfinished(Path(cfg.run_dir))
    result = train(cfg)
    hist = result.history  # this process's steps (after a resume: from the resumed step on)
    return {"run_dir": result.run_dir, "export": result.last_export, "step": result.step,
            "first": hist[0] if hist else {}, "last": hist[-1] if hist else {}}


def latents(out: Path, arm: str, vae_dir: str) -> dict:
    from data_prep.latents import extract_latents
    from svae_tts.formats.latent_set import load_latent_set

    path = extract_latents(out / "corpus", out / f"latents_{arm}", vae=vae_dir, overwrite=True)
    ls = load_latent_set(path)
    return {"dir": path, "frame_rate": ls.frame_rate, "latent_dim": ls.latent_dim,
            "utterances": {k: len(v) for k, v in ls.dataset.items()}}


def tts_config(out: Path, run: str, latents_dir: str, b: DemoBudget, seed: int):
    """The TTS preset trained on an arm's latent set at the demo's budget, as run ``run``."""
    from tts_recipes.train import load_train_config

    base = load_train_config(b.tts_preset)
    return replace(
        base, name=run, run_dir=str(out / f"tts_{run}"), seed=seed, resume="auto",
        max_steps=b.tts_steps,
        save_every=b.tts_save_every,
        data=_with(base.data, feature="latent", latent_set=str(latents_dir), frames_per_batch=b.tts_frames_per_batch,
                   text_input=b.tts_text_input),
        optim=_with(base.optim, warmup_steps=b.tts_warmup_steps, lr=b.tts_lr))


def tts(out: Path, run: str, latents_dir: str, b: DemoBudget, seed: int) -> dict:
    from tts_recipes.train import train

    cfg = tts_config(out, run, latents_dir, b, seed)
    _unfinished(Path(cfg.run_dir))
    return train(cfg)


def _test_items(out: Path, b: DemoBudget):
    """The held-out test list every TTS run is scored on (the same on every call: seed 0)."""
    from eval.testlist import build_test_list

    return build_test_list(out / "corpus", num_items=b.eval_items, seed=0)


def _scorer(out: Path, b: DemoBudget, device: str):
    """The judges: the budget's ASR judge (Whisper by default; the CTC judge trained here with
    ``judge="ctc"``), resemblyzer for SIM, the budget's MOS model."""
    from eval.scoring import Scorer

    return Scorer(asr=judge_spec(out, b), sim="resemblyzer", mos=b.mos, device=device)


def judge_spec(out: Path, b: DemoBudget) -> str:
    """What the scorer loads as the ASR judge."""
    return str(out / "judge") if b.judge == "ctc" else b.judge


def _synthesis(b: DemoBudget):
    from eval.convergence import EvalSynthesis

    return EvalSynthesis(nfe=b.nfe, seed=0)


def recon(out: Path, b: DemoBudget, results: dict, device: str) -> dict:
    """Both arms' VAE reconstructions of held-out audio, read by the judges."""
    from eval.recon import run_recon

    vaes = [(arm, results[f"vae_{arm}"]["export"]) for arm in ARMS]
    return run_recon(vaes, out / "corpus", out / "eval" / "recon", _scorer(out, b, device), limit=b.recon_items,
                     overwrite=True, device=device)


def probe(out: Path, b: DemoBudget, results: dict, device: str) -> dict:
    """The linear probe on both arms' latent sets (the latents the TTS trains on, not encoded again)."""
    from eval.probe import ProbeConfig, run_probe

    sets = [(arm, results[f"latents_{arm}"]["dir"]) for arm in ARMS]
    return run_probe(sets, out / "corpus", out / "eval" / "probe", ProbeConfig(unit=b.probe_unit, steps=b.probe_steps),
                     overwrite=True, device=device)


def score(out: Path, run: str, b: DemoBudget, device: str) -> dict:
    """Every export of one TTS run synthesised and scored into the convergence cache, so that the
    runs are scored side by side and the eval stage only gathers them."""
    from eval.convergence import score_checkpoints

    scored = score_checkpoints([(run, out / f"tts_{run}")], _test_items(out, b), out / "eval" / "convergence",
                               _scorer(out, b, device), settings=_synthesis(b), device=device)
    return {"checkpoints": len(scored.rows), "scored_now": len(scored.rows) - scored.reused,
            "failures": scored.failures}


def evaluate(out: Path, b: DemoBudget, results: dict, device: str) -> dict:
    """The convergence comparison over every TTS run (from the cache the ``score_*`` stages filled),
    whether each TTS reads its text (text reliance), and the ``recon`` and ``probe`` stages' results."""
    from eval.convergence import run_convergence
    from eval.testlist import write_test_list

    ev = out / "eval"
    items = _test_items(out, b)
    write_test_list(items, ev / "test_list.jsonl", overwrite=True)
    runs = [run for run, _, _ in tts_runs(b)]
    conv = run_convergence([(run, out / f"tts_{run}") for run in runs], items, ev / "convergence",
                           _scorer(out, b, device), settings=_synthesis(b), device=device, cer_threshold=b.cer_threshold,
                           primary=b.primary)
    seeds = conv.pop("seeds", None)  # several seeds per arm: eval.seeds's summary (also seeds.md)
    reliance = text_reliance(out, b, results, device)
    return {"recon": results["recon"], "probe": results["probe"], "convergence": conv, "seeds": seeds,
            "text_reliance": reliance, "test_items": len(items), "judge": judge_spec(out, b)}


def text_reliance(out: Path, b: DemoBudget, results: dict, device: str) -> list[dict]:
    """Does each TTS run read its text yet? Its last export's loss with the own vs another item's
    text on its arm's held-out latents (:mod:`eval.text_reliance`): it shows before a judge can."""
    from eval.text_reliance import run_text_reliance
    from svae_tts.run_state import list_exports

    models = []
    for run, arm, _ in tts_runs(b):
        last_export = list_exports(results[f"tts_{run}"]["run_dir"])[-1][1]
        models.append((run, str(last_export), results[f"latents_{arm}"]["dir"]))
    scores = run_text_reliance(models, out / "eval" / "text_reliance", overwrite=True, device=device)
    return [{k: v for k, v in r.items() if k != "utterances"} for r in scores]
