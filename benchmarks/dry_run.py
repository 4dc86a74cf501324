"""The release-size dry run: every command a GPU user runs, at the released sizes, on CPU.

Users train the Semantic-VAE (72 M, full discriminators, WavLM-Large teacher online), extract
latents with it and train the F5-TTS v1 Base DiT on them; the tests build tiny models only. This
runs the same commands at the released sizes with random weights and one or two steps each, so a
shape, dtype or memory error that only the real size shows stops CI instead of a user:

1. ``vae_training``: ``accelerate launch -m svae_tts vae train --config semantic_vae`` (architecture
   unchanged; crop, batch and step counts shortened) with a random WavLM-Large-sized teacher, bf16
   autocast, a checkpoint, a ``--resume auto`` run one step further, its export loaded back with
   :func:`vae.load.load_vae`;
2. ``latent_extraction``: ``svae-tts data latents`` on a tiny corpus with that export (the
   ``semantic_vae`` preset when section 1 failed);
3. ``tts_training``: ``svae-tts tts train --config base`` on those latents, bf16, then its export;
4. ``synthesis``: ``svae-tts synthesize`` from that export at NFE 4, decoding with the released-size
   VAE; the wav is checked (finite, the length asked for);
5. ``mel_baseline``: the Base DiT on mel with a random full-size Vocos (512/1536/8, as
   charactr/vocos-mel-24khz): one step, its export, one NFE-4 synthesis.

Every command runs as its own process, as a user runs it, so each section's ``peak_rss_mb`` is the
resident-set high-water mark of its biggest process (``VmHWM``, polled: :func:`run_child`), its
``cpu_s`` is less inflated than its wall seconds on a busy machine, and a crash of one (memory
included) is an ``error`` in its section while the others still run. A section whose input a failed section should have made
is recorded as skipped. What it does not show: speed on a GPU (the seconds are CPU seconds of one or
two steps, mostly start-up and saving), or GPU memory.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import vae_train_speed  # noqa: E402
from svae_tts.fileio import atomic_write_json, atomic_write_text  # noqa: E402

# one set of words, so whichever clips the split trains on, the text to say is in the model's vocabulary,
# and at most 16 characters a second of the 1 s tiny clips (a faster transcript is warned about)
TEXTS = ["the dog ran home", "home ran the dog", "the dog ran", "a dog ran home"]
SYNTH_TEXT = "the dog ran home"
SECTIONS = ("vae_training", "latent_extraction", "tts_training", "synthesis", "mel_baseline")


@dataclass(frozen=True)
class DryRunSizes:
    """What each section builds. ``RELEASE`` changes nothing that shapes a weight (the released VAE
    config, the Base DiT, WavLM-Large's and Vocos' sizes); only steps, batches, crops and clip
    lengths are short. ``TINY`` runs the same code path in seconds for the test suite."""

    vae_config: str           # vae/configs/<name>.yaml, architecture unchanged
    vae_overrides: tuple[str, ...]
    large_teacher: bool       # a WavLM-Large-sized random teacher (else a tiny WavLM)
    vae_preset: str           # extraction's VAE when section 1 left no export
    dit_preset: str           # tts_recipes/presets/<name>.yaml
    vocos_size: tuple[int, int, int]
    clips: int
    clip_seconds: float
    crop_seconds: float
    synth_seconds: float
    latent_dim: int | None    # what extraction must give (None: whatever the tiny preset has)
    nfe: int = 4


RELEASE = DryRunSizes(vae_config="semantic_vae", vae_overrides=(), large_teacher=True, vae_preset="semantic_vae",
                      dit_preset="base", vocos_size=(512, 1536, 8), clips=4, clip_seconds=2.0, crop_seconds=1.0,
                      synth_seconds=2.0, latent_dim=64)
TINY = DryRunSizes(vae_config="tiny_semantic", vae_overrides=("loss.disc_start_step=0", "loss.adv_start_step=0"),
                   large_teacher=False, vae_preset="tiny", dit_preset="tiny", vocos_size=(32, 64, 1), clips=4,
                   clip_seconds=1.0, crop_seconds=0.5, synth_seconds=1.0, latent_dim=None)


class SectionFailed(RuntimeError):
    """A command of a section exited non-zero, or its output is not what was asked for."""


class Skipped(RuntimeError):
    """A section's input was to come from a section that failed."""


@dataclass
class Child:
    """One finished command: its wall seconds, CPU seconds (user + system, its children's included:
    less inflated than wall seconds on a shared machine) and resident-set high-water mark."""

    seconds: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int


def _own_peak_mb(pid: int) -> float:
    """The resident-set high-water mark of the program ``pid`` runs now (``VmHWM``: since its exec,
    so not the parent's memory a forked child starts out counting, which ``ru_maxrss`` includes);
    its current RSS where ``/proc`` is missing (macOS), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def _tree_peak_mb(pid: int) -> float:
    """The highest :func:`_own_peak_mb` among ``pid`` and its descendants (``accelerate launch``'s
    trainer), leaving out a process that still runs its parent's command line: forked and not yet
    exec'd, its memory is its parent's."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0.0
    peaks = [0.0]
    for proc in procs:
        try:
            parent = proc.parent()
            if parent is not None and proc.cmdline() == parent.cmdline():
                continue
        except psutil.Error:
            continue
        peaks.append(_own_peak_mb(proc.pid))
    return max(peaks)


def run_child(argv: list[str], log: Path, threads: int, timeout: float = 1800.0, every: float = 0.05) -> Child:
    """Run ``argv`` as its own process (output to ``log``) and return its exit status, seconds, CPU
    seconds (``os.wait4``: its reaped children's included) and peak RSS: the high-water mark of its
    biggest process, read every ``every`` seconds (a high-water mark only grows, so polling misses
    at most the growth of the last ``every`` seconds of a process's life)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU, offline
    print(f"[dry-run]   $ {' '.join(argv)}", flush=True)
    t0, peak = time.perf_counter(), 0.0
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_peak_mb(proc.pid))
            if time.perf_counter() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its trainer
            time.sleep(every)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Child(time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, peak, proc.returncode)


def svae_tts(*args: str) -> list[str]:
    """The ``svae-tts`` command as this interpreter runs it (``python -m svae_tts``)."""
    return [sys.executable, "-m", "svae_tts", *args]


def accelerate_launch(threads: int, *args: str) -> list[str]:
    """``accelerate launch --num_processes 1 -m svae_tts ...`` (``python -m accelerate.commands.launch``
    is that command, without depending on the venv's bin dir being on PATH)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
            "--mixed_precision", "bf16", "--dynamo_backend", "no", "--num_cpu_threads_per_process", str(threads),
            "-m", "svae_tts", *args]


def params_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def file_params_m(weights: Path) -> float:
    """Millions of values in a safetensors file (or all of a dir's: a sharded save), read from the
    headers: a model's size without loading a GB of weights into this process (saved buffers included)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(weights.glob("*.safetensors")) if weights.is_dir() else [weights]:
        with safe_open(str(path), "pt") as f:
            total += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    if not total:
        raise SectionFailed(f"{weights}: no weights")
    return total / 1e6


def check_wav(path: Path, seconds: float) -> dict:
    """A synthesised wav: finite samples, and the length asked for (to a frame of the coarser
    feature space: 1/40 s for the latents, ~1/94 s for mel)."""
    import soundfile as sf

    wav, sr = sf.read(str(path), dtype="float32")
    if wav.size == 0 or not bool(torch.isfinite(torch.from_numpy(wav)).all()):
        raise SectionFailed(f"{path}: empty or non-finite samples")
    got = wav.shape[0] / sr
    if abs(got - seconds) > 0.03:
        raise SectionFailed(f"{path}: {got:.3f} s of audio, {seconds:g} s asked for")
    return {"wav_seconds": got, "sample_rate": sr, "wav_peak": float(abs(wav).max())}


class DryRun:
    """The five sections in one work dir; each section's outputs are the next one's inputs."""

    def __init__(self, work: Path, sizes: DryRunSizes, threads: int):
        self.work, self.sizes, self.threads = work, sizes, threads
        self.paths: dict[str, Path] = {}
        self.ran: list[tuple[str, Child]] = []  # the commands of the section running now

    def need(self, key: str, made_by: str) -> Path:
        if key not in self.paths:
            raise Skipped(f"skipped: needs the {key.replace('_', ' ')} that {made_by} makes, and it failed")
        return self.paths[key]

    def children(self, *runs: tuple[str, list[str]]) -> list[Child]:
        """Run each command in turn (its output in ``<name>.log``); the first that fails stops the
        section with its exit status and the log's last lines, its figures still recorded."""
        done = []
        for name, argv in runs:
            log = self.work / f"{name}.log"
            done.append(run_child(argv, log, self.threads))
            self.ran.append((name, done[-1]))
            if done[-1].returncode != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                raise SectionFailed(f"`{' '.join(argv[:6])} ...` exited {done[-1].returncode} after "
                                    f"{done[-1].seconds:.0f} s; last lines of {log.name}:\n" + "\n".join(tail))
        return done

    # -- inputs -------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Voiced clips with transcripts, and the corpus the project's CSV builder makes of them."""
        from data_prep.builders import build_csv
        from data_prep.corpus import SplitSpec

        audio = self.work / "audio"
        audio.mkdir()
        vae_train_speed.make_audio(audio, n=self.sizes.clips, seconds=self.sizes.clip_seconds)
        table = self.work / "corpus.csv"
        with open(table, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "text", "speaker"])
            for i, wav in enumerate(sorted(audio.glob("*.wav"))):
                w.writerow([str(wav), TEXTS[i % len(TEXTS)], f"spk{i % 2}"])
        build_csv(table, self.work / "corpus", split=SplitSpec(test_size=0.25, seed=0))
        self.paths.update(audio=audio, corpus=self.work / "corpus", ref_wav=sorted(audio.glob("*.wav"))[0])

    # -- sections -----------------------------------------------------------------------------------
    def vae_training(self) -> dict:
        from svae_tts.run_state import list_checkpoints
        from vae.load import load_vae

        t0 = time.perf_counter()
        teacher = vae_train_speed.make_teacher(self.work / "teacher", large=self.sizes.large_teacher)
        teacher_s = time.perf_counter() - t0
        run = self.work / "vae_run"
        common = ["vae", "train", "--config", self.sizes.vae_config, f"run_dir={run}",
                  f"data.train={self.paths['audio']}", f"teacher.model={teacher}", "mixed_precision=bf16",
                  "data.batch_size=1", f"data.segment_seconds={self.sizes.crop_seconds}", "data.valid_items=0",
                  "data.num_workers=0", "progress=false", "log_every=1", "save_every=1", "export_every=1",
                  "valid_every=0", "audio_every=0", *self.sizes.vae_overrides]
        first, resumed = self.children(("vae_train", accelerate_launch(self.threads, *common, "max_steps=1")),
                                       ("vae_resume", accelerate_launch(self.threads, *common, "max_steps=2",
                                                                        "--resume", "auto")))
        steps = [int(p.name.split("_")[-1]) for p in list_checkpoints(run)]
        export = run / "exports" / "step_00000002"
        if 2 not in steps or not export.is_dir():
            raise SectionFailed(f"{run}: the resumed run left checkpoints {steps} and no export of step 2")
        vae = load_vae(export)
        sizes = {"vae_params_M": params_m(vae), "discriminator_params_M": file_params_m(export / "discriminator.safetensors"),
                 "teacher_params_M": file_params_m(teacher)}
        del vae
        self.paths["vae_export"] = export
        shutil.rmtree(teacher)
        return {"teacher_build_s": teacher_s, "checkpoints": steps, "export": str(export.relative_to(self.work)), **sizes}

    def latent_extraction(self) -> dict:
        from svae_tts.formats.latent_set import load_latent_set, split_latents

        vae = str(self.paths.get("vae_export") or f"preset:{self.sizes.vae_preset}")
        out = self.work / "latents"
        self.children(("latents", svae_tts("data", "latents", "--corpus", str(self.paths["corpus"]), "--vae", vae,
                                           "--out", str(out), "--batch-size", "2")))
        latent_set = load_latent_set(out)
        info = latent_set.info
        frames = {split: [z.shape[0] for z in split_latents(ds, info["latent_dim"])]
                  for split, ds in latent_set.dataset.items()}
        expected = round(self.sizes.clip_seconds * info["frame_rate"])
        if info["latent_dim"] != (self.sizes.latent_dim or info["latent_dim"]) or any(
                abs(n - expected) > 1 for ns in frames.values() for n in ns):
            raise SectionFailed(f"{out}: {info['latent_dim']}-dim latents of {frames} frames; "
                                f"{self.sizes.latent_dim}-dim, {expected} a clip expected")
        self.paths["latents"] = out
        return {"vae": vae if vae.startswith("preset:") else "section 1's export",
                "latent_dim": info["latent_dim"], "frame_rate": info["frame_rate"], "frames": frames}

    def _tts(self, name: str, data: list[str], frames_per_batch: int) -> tuple[Path, dict]:
        run = self.work / name
        self.children((name, svae_tts(
            "tts", "train", "--config", self.sizes.dit_preset, f"run_dir={run}", *data, "mixed_precision=bf16",
            "max_steps=1", "save_every=1", "log_every=1", "sample_every=0", f"data.frames_per_batch={frames_per_batch}",
            "data.max_samples=2")))
        export = run / "exports" / "step_00000001"
        config = json.loads((export / "config.json").read_text())
        info = {"dit_params_M": file_params_m(export / "model.safetensors"), "feature_dim": config["feature"]["dim"]}
        for ckpt in (run / "checkpoints").glob("step_*"):  # GBs at the Base size; the export is what is used next
            shutil.rmtree(ckpt)
        return export, info

    def tts_training(self) -> dict:
        export, info = self._tts("tts_latent", [f"data.latent_set={self.need('latents', 'latent_extraction')}"],
                                 frames_per_batch=4 * round(40 * self.sizes.clip_seconds))  # room for 2 clips at 40 Hz
        self.paths["tts_export"] = export
        return {"export": str(export.relative_to(self.work)), **info}

    def _synthesize(self, name: str, export: Path) -> dict:
        wav = self.work / f"{name}.wav"
        self.children((name, svae_tts(
            "synthesize", "--model", str(export), "--ref-audio", str(self.paths["ref_wav"]), "--ref-text", TEXTS[0],
            "--text", SYNTH_TEXT, "-o", str(wav), "--nfe", str(self.sizes.nfe), "--duration",
            str(self.sizes.synth_seconds), "--seed", "0")))
        return check_wav(wav, self.sizes.synth_seconds)

    def synthesis(self) -> dict:
        export = self.need("tts_export", "tts_training")
        wav = self._synthesize("synth_latent", export)
        return {"nfe": self.sizes.nfe, "decoder_vae_params_M": file_params_m(export / "vae" / "model.safetensors"), **wav}

    def mel_baseline(self) -> dict:
        from tts_recipes.feature_space import write_random_vocos

        dim, inter, layers = self.sizes.vocos_size
        vocos = write_random_vocos(self.work / "vocos", dim=dim, intermediate_dim=inter, num_layers=layers)
        export, info = self._tts("tts_mel", ["data.feature=mel", f"data.corpus={self.paths['corpus']}", f"data.vocos={vocos}"],
                                 frames_per_batch=4 * round(93.75 * self.sizes.clip_seconds))  # mel: 93.75 Hz
        wav = self._synthesize("synth_mel", export)
        vocos_params = file_params_m(export / "vocos" / "model.safetensors")
        return {"nfe": self.sizes.nfe, "vocos_params_M": vocos_params, **info, **wav}


def markdown(results: dict) -> str:
    """One row per section: seconds, peak memory, model sizes, what it checked."""
    tiny = results["tiny"]
    lines = [f"# CPU dry run at the {'TINY (test) sizes' if tiny else 'released sizes'}", "",
             f"{results['device']}, torch {results['torch']}, {results['threads']} thread(s); "
             "random weights, 1-2 steps a trainer: what is checked is that every command runs, not its speed.", "",
             "| section | seconds | CPU s | peak RSS (MiB) | models (M params) | checked |", "|---|---:|---:|---:|---|---|"]
    for name in SECTIONS:
        row = results.get(name)
        if not isinstance(row, dict):
            continue
        sizes = ", ".join(f"{k[:-len('_params_M')]} {v:.1f}" for k, v in row.items() if k.endswith("_params_M"))
        if "error" in row:
            checked = "**failed**: " + row["error"].strip().splitlines()[-1][:300]
        elif "wav_seconds" in row:
            checked = f"wav {row['wav_seconds']:.2f} s at {row['sample_rate']} Hz, finite"
        elif "checkpoints" in row:
            checked = f"checkpoints {row['checkpoints']}, resumed, export loads"
        elif "latent_dim" in row:
            checked = f"{row['latent_dim']}-dim latents at {row['frame_rate']:g} Hz ({row['vae']})"
        else:
            checked = f"export loads ({row.get('feature_dim')}-dim features)"
        peak = row.get("peak_rss_mb")
        lines.append(f"| {name} | {row['seconds']:.1f} | {row.get('cpu_s', 0):.1f} | {'' if peak is None else f'{peak:.0f}'} "
                     f"| {sizes} | {checked} |")
    lines += ["", f"Wall time {results['wall_s']:.0f} s (setup {results.get('setup_s', 0):.1f} s); "
              f"this process's own peak RSS {results['suite_peak_rss_mb']:.0f} MiB."]
    return "\n".join(lines) + "\n"


def measured(ran: list[tuple[str, Child]], own_cpu_s: float) -> dict:
    """A section's figures from its commands: the highest peak RSS among them, the CPU seconds of
    them and of this process's own part (building inputs, loading what they wrote), each command's."""
    return {"peak_rss_mb": max((c.peak_rss_mb for _, c in ran), default=None),
            "cpu_s": own_cpu_s + sum(c.cpu_s for _, c in ran),
            "commands": {name: {"seconds": c.seconds, "cpu_s": c.cpu_s, "peak_rss_mb": c.peak_rss_mb} for name, c in ran}}


def run_dry_run(out: Path, tiny: bool = False, threads: int = 2, sections: list[str] | None = None,
                keep: Path | None = None) -> dict:
    """Run the sections (all, or ``sections``) and write ``out`` (JSON, after every section) and the
    table beside it (``.md``). ``keep``: a dir to leave the work (run dirs, exports, logs) in."""
    sizes = TINY if tiny else RELEASE
    results: dict = {"mode": "cpu_dry_run", "tiny": tiny, "threads": threads, "sizes": asdict(sizes),
                     "device": f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
                     "torch": torch.__version__, "wall_s": 0.0, "suite_peak_rss_mb": 0.0}
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def save() -> None:
        results["wall_s"] = time.perf_counter() - t0
        results["suite_peak_rss_mb"] = _own_peak_mb(os.getpid())
        atomic_write_json(out, results)
        atomic_write_text(out.with_suffix(".md"), markdown(results))

    work = Path(tempfile.mkdtemp(prefix="svae_dry_run_")) if keep is None else keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        dry = DryRun(work, sizes, threads)
        start = time.perf_counter()
        try:
            dry.setup()
            setup_error = None
        except Exception as exc:  # no inputs: every section records why
            traceback.print_exc()
            setup_error = f"setup failed: {type(exc).__name__}: {exc}"
        results["setup_s"] = time.perf_counter() - start
        for name in SECTIONS:
            if sections and name not in sections:
                continue
            if setup_error:
                results[name] = {"seconds": 0.0, "error": setup_error}
                continue
            print(f"[dry-run] {name} ...", flush=True)
            start, cpu0, dry.ran = time.perf_counter(), time.process_time(), []
            section: Callable[[], dict] = getattr(dry, name)
            try:
                row = section()
            except Skipped as exc:
                row = {"error": str(exc)}
            except Exception as exc:  # recorded; the sections that do not need this one still run
                traceback.print_exc()
                row = {"error": f"{type(exc).__name__}: {exc}"}
            results[name] = {"seconds": time.perf_counter() - start, **measured(dry.ran, time.process_time() - cpu0), **row}
            row = results[name]
            print(f"[dry-run] {name}: {row['seconds']:.1f} s, {row['cpu_s']:.1f} CPU s"
                  + (f", peak RSS {row['peak_rss_mb']:.0f} MiB" if row["peak_rss_mb"] is not None else "")
                  + (f"; ERROR {row['error']}" if "error" in row else ""), flush=True)
            save()
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    save()
    print(markdown(results))
    return results


def failed(results: dict) -> list[str]:
    return [name for name in SECTIONS if isinstance(results.get(name), dict) and "error" in results[name]]
