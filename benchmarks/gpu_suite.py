"""The GPU figures in one command: what a session with a lent GPU runs first.

Four sections, each timed in this one process against its own baseline:

1. synthesis real-time factor, latent vs mel pipeline, same DiT (Base) at NFE 32 and at NFE 7
   (where f5-tts's empirically pruned step schedule, EPSS, applies);
2. TTS training throughput (audio-seconds per second), latent vs mel, bf16 autocast;
3. VAE training steps/s at the released size (72 M VAE, full-size discriminators, online
   WavLM-Large-sized teacher), fp32 and bf16;
4. latent extraction throughput (x real time) with the released VAE architecture.

Every network is random-init at its real size (speed does not depend on weight values), so it runs
offline. Results go to ``--out`` as JSON (written after every section, so a run cut short keeps what
it measured) and a Markdown table beside it.

    python benchmarks/gpu_suite.py --out docs/benchmarks/gpu_suite_h200.json          # one GPU (sized for < 8 min; not yet run on one)
    python benchmarks/gpu_suite.py --smoke --out /tmp/smoke.json                       # CPU, tiny sizes, seconds

``--smoke`` swaps in the tiny presets and a few steps so the suite runs in CI and cannot rot; its
numbers mean nothing.

``--cpu-dry-run`` times nothing: it runs every command a GPU user runs (VAE training under
``accelerate launch`` with a checkpoint, a resume and the export loaded back; latent extraction; Base
DiT training on the latents and its export; an NFE-4 synthesis; the mel + Vocos baseline) at the
released sizes, random weights, one or two steps each, on CPU, and records per section its seconds,
its commands' peak resident memory, the model sizes and any error (``benchmarks/dry_run.py``). CI
runs it after the tests, so a shape, dtype or memory error at the real size stops CI, not a user;
``--cpu-dry-run --smoke`` is the same path at the tiny sizes (the test suite's).

    python benchmarks/gpu_suite.py --cpu-dry-run --threads 2 --out /tmp/dry_run.json     # CPU, released sizes, minutes
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

import data_speed  # noqa: E402
import dry_run  # noqa: E402
from svae_tts.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from svae_tts.cli import add_device_option, positive_int  # noqa: E402
import tts_speed  # noqa: E402
import vae_train_speed  # noqa: E402


@dataclass(frozen=True)
class SuiteSizes:
    """What each section runs; ``FULL`` is the released / Base size, ``SMOKE`` the CI size."""

    dit_preset: str
    vae_preset: str
    vocos_size: tuple[int, int, int]
    nfe: tuple[int, ...]
    seconds: float
    ref_seconds: float
    repeats: int
    tts_train_batch: int
    tts_train_seconds: float
    tts_train_steps: int
    vae_configs: tuple[str, str]  # (acoustic, semantic) training configs in vae/configs
    vae_steps: int
    vae_batch: int | None
    large_teacher: bool
    extract_clips: int
    extract_seconds: float
    extract_batch: int


FULL = SuiteSizes(dit_preset="base", vae_preset="semantic_vae", vocos_size=(512, 1536, 8), nfe=(32, 7),
                  seconds=10.0, ref_seconds=5.0, repeats=3, tts_train_batch=8, tts_train_seconds=10.0,
                  tts_train_steps=10, vae_configs=("acoustic_vae_dim64", "semantic_vae"), vae_steps=10,
                  vae_batch=None, large_teacher=True, extract_clips=64, extract_seconds=10.0, extract_batch=16)
SMOKE = SuiteSizes(dit_preset="tiny", vae_preset="tiny", vocos_size=(32, 64, 1), nfe=(4,),
                   seconds=2.0, ref_seconds=2.0, repeats=1, tts_train_batch=2, tts_train_seconds=1.0,
                   tts_train_steps=1, vae_configs=("tiny_acoustic", "tiny_semantic"), vae_steps=1,
                   vae_batch=2, large_teacher=False, extract_clips=2, extract_seconds=1.0, extract_batch=2)


def tts_sections(sizes: SuiteSizes, device: torch.device) -> dict:
    """Synthesis RTF per NFE and training throughput, latent vs mel, on the same DiT."""
    args = argparse.Namespace(vae=None, vae_preset=sizes.vae_preset, vocos=None, vocos_size=sizes.vocos_size,
                              seconds=sizes.seconds, ref_seconds=sizes.ref_seconds, repeats=sizes.repeats,
                              train_batch=sizes.tts_train_batch, train_seconds=sizes.tts_train_seconds,
                              train_steps=sizes.tts_train_steps, bf16=True, nfe=None)
    torch.manual_seed(0)
    spaces = tts_speed.build_spaces(args, device)
    models = {name: tts_speed.build_model(sizes.dit_preset, space) for name, space in spaces.items()}
    synths = {name: tts_speed.Synthesizer(models[name], space, device) for name, space in spaces.items()}
    synth: dict = {}
    for nfe in sizes.nfe:  # the two pipelines timed in turns (tts_speed.time_synthesis)
        args.nfe = nfe
        synth[f"nfe{nfe}"] = tts_speed.time_synthesis(synths, args, device)
    del synths
    train: dict = {}
    for name, space in spaces.items():
        train[name] = tts_speed.time_training(models[name], space, args, device)
        train[name]["params_M"] = models[name].num_parameters() / 1e6
        del models[name]
    for row in synth.values():
        row["mel_over_latent_rtf"] = row["mel"]["rtf"] / row["latent"]["rtf"]
        row["mel_over_latent_dit_rtf"] = row["mel"]["dit_rtf"] / row["latent"]["dit_rtf"]
    train["latent_over_mel_audio_s_per_s"] = train["latent"]["audio_s_per_s"] / train["mel"]["audio_s_per_s"]
    return {"tts_synthesis": synth, "tts_training": train}


def vae_training_section(sizes: SuiteSizes, device: torch.device) -> dict:
    """Steps/s of the released-size VAE trainer (acoustic and semantic), fp32 and bf16."""
    from accelerate.state import AcceleratorState

    from svae_tts.config import load_config
    from vae.train_config import TrainConfig

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "audio").mkdir()
        vae_train_speed.make_audio(tmp / "audio", n=8, seconds=4.0)
        teacher = vae_train_speed.make_teacher(tmp / "teacher", large=sizes.large_teacher)
        for precision in ("no", "bf16"):
            for name in sizes.vae_configs:
                over = [f"run_dir={tmp / f'{name}_{precision}'}", f"data.train={tmp / 'audio'}", "data.num_workers=2",
                        "progress=false", "data.valid_items=0", f"mixed_precision={precision}",
                        "loss.disc_start_step=0", "loss.adv_start_step=0"]  # the GAN on: the released recipe's steady state
                if sizes.vae_batch:
                    over.append(f"data.batch_size={sizes.vae_batch}")
                if "semantic" in name:
                    over.append(f"teacher.model={teacher}")
                # accelerate keeps one process-wide state and refuses a second mixed-precision setting;
                # its own test suite resets it the same way between configurations.
                AcceleratorState._reset_state(reset_partial_state=True)
                cfg = load_config(TrainConfig, ROOT.parent / "vae" / "configs" / f"{name}.yaml", over)
                sps, aps, _ = vae_train_speed.measure(cfg, sizes.vae_steps, warmup=1)
                out[f"{name}/{'fp32' if precision == 'no' else precision}"] = {
                    "steps_per_s": sps, "audio_s_per_s": aps, "batch": cfg.data.batch_size,
                    "segment_seconds": cfg.data.segment_seconds}
    return {"vae_training": out}


def extraction_section(sizes: SuiteSizes, device: torch.device) -> dict:
    """Latent extraction with the released VAE architecture: audio-seconds encoded per second."""
    g = torch.Generator().manual_seed(0)
    n = int(16000 * sizes.extract_seconds)
    wavs = [0.1 * torch.randn(n, generator=g) for _ in range(sizes.extract_clips)]
    rtf = data_speed.latent_rtf(sizes.vae_preset, device.type, wavs, sizes.extract_batch)
    return {"latent_extraction": {"preset": sizes.vae_preset, "batch": sizes.extract_batch,
                                  "clip_seconds": sizes.extract_seconds, "rtf": rtf, "x_real_time": 1.0 / rtf}}


def markdown(results: dict) -> str:
    """The figures a reader wants, one table per section, ratios beside their baselines."""
    lines = [f"# GPU suite: {results['device']}", "", f"torch {results['torch']}, sizes: {results['sizes']['dit_preset']} DiT, "
             f"{results['sizes']['vae_preset']} VAE{' (SMOKE: numbers mean nothing)' if results['smoke'] else ''}", ""]
    synth = results.get("tts_synthesis")
    if isinstance(synth, dict) and "error" not in synth:
        lines += ["| NFE | latent RTF | mel RTF | mel / latent | DiT-only mel / latent | latent decoder RTF |",
                  "|---|---|---|---|---|---|"]
        for key, row in synth.items():
            lines.append(f"| {key[3:]} | {row['latent']['rtf']:.4f} | {row['mel']['rtf']:.4f} | "
                         f"{row['mel_over_latent_rtf']:.2f}x | {row['mel_over_latent_dit_rtf']:.2f}x | "
                         f"{row['latent']['decoder_rtf']:.4f} |")
        lines.append("")
    train = results.get("tts_training")
    if isinstance(train, dict) and "error" not in train:
        lines += ["| TTS training (bf16) | latent | mel | latent / mel |", "|---|---|---|---|",
                  f"| audio s / s | {train['latent']['audio_s_per_s']:.1f} | {train['mel']['audio_s_per_s']:.1f} | "
                  f"{train['latent_over_mel_audio_s_per_s']:.2f}x |", ""]
    vae = results.get("vae_training")
    if isinstance(vae, dict) and "error" not in vae:
        lines += ["| VAE training | steps/s | audio s / s | batch x crop |", "|---|---|---|---|"]
        for key, row in vae.items():
            lines.append(f"| {key} | {row['steps_per_s']:.3f} | {row['audio_s_per_s']:.1f} | "
                         f"{row['batch']} x {row['segment_seconds']:g} s |")
        lines.append("")
    ext = results.get("latent_extraction")
    if isinstance(ext, dict) and "error" not in ext:
        lines += [f"Latent extraction ({ext['preset']}, batch {ext['batch']} x {ext['clip_seconds']:g} s): "
                  f"**{ext['x_real_time']:.1f}x real time**.", ""]
    for key in ("tts_synthesis", "tts_training", "vae_training", "latent_extraction"):
        if isinstance(results.get(key), dict) and "error" in results[key]:
            lines.append(f"- {key} failed: {results[key]['error']}")
    lines.append(f"\nWall time: {results['wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


SUITE_SECTIONS = ("tts", "vae_training", "latent_extraction")


def run_suite(out: Path, smoke: bool, device: torch.device, sections: list[str] | None = None) -> dict:
    sizes = SMOKE if smoke else FULL
    results: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
                     "torch": torch.__version__, "smoke": smoke, "sizes": {"dit_preset": sizes.dit_preset, "vae_preset": sizes.vae_preset},
                     "wall_s": 0.0}
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def save() -> None:  # after every section: a run cut short keeps what it measured
        results["wall_s"] = time.perf_counter() - t0
        atomic_write_json(out, results)
        atomic_write_text(out.with_suffix(".md"), markdown(results))

    sections_to_run: dict[str, tuple[Callable[[SuiteSizes, torch.device], dict], tuple[str, ...]]] = {
        "tts": (tts_sections, ("tts_synthesis", "tts_training")),
        "vae_training": (vae_training_section, ("vae_training",)),
        "latent_extraction": (extraction_section, ("latent_extraction",)),
    }
    for name, (section, keys) in sections_to_run.items():
        if sections and name not in sections:
            continue
        start = time.perf_counter()
        print(f"[gpu_suite] {name} ...", flush=True)
        try:
            results.update(section(sizes, device))
        except Exception as exc:  # one failing section must not lose the others' figures on a 15-minute lease
            traceback.print_exc()
            results.update({key: {"error": f"{type(exc).__name__}: {exc}"} for key in keys})
        results.setdefault("section_s", {})[name] = time.perf_counter() - start
        save()
    save()
    print(markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="JSON file (a .md table is written beside it)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on CPU: checks the suite runs, numbers mean nothing")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="instead of timing: every training, export, extraction and synthesis command at the released "
                        "sizes, 1-2 steps each, on CPU whatever --device says (benchmarks/dry_run.py); with --smoke at "
                        "the tiny sizes")
    p.add_argument("--keep", type=Path, default=None, help="--cpu-dry-run: leave its run dirs, exports and logs here")
    add_device_option(p)
    p.add_argument("--sections", nargs="+", choices=list(dict.fromkeys([*SUITE_SECTIONS, *dry_run.SECTIONS])), default=None,
                   help=f"run only these: {', '.join(SUITE_SECTIONS)}; with --cpu-dry-run {', '.join(dry_run.SECTIONS)}")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (--cpu-dry-run: per command, default 2)")
    args = p.parse_args(argv)
    known = dry_run.SECTIONS if args.cpu_dry_run else SUITE_SECTIONS
    wrong = [s for s in args.sections or [] if s not in known]
    if wrong:
        p.error(f"--sections {' '.join(wrong)}: not a section of {'--cpu-dry-run' if args.cpu_dry_run else 'the timing suite'} "
                f"({', '.join(known)})")
    if args.keep is not None and (args.keep.is_file() or (args.keep.is_dir() and any(args.keep.iterdir()))):
        p.error(f"--keep {args.keep}: not an empty folder (the dry run writes its runs there)")
    if args.cpu_dry_run:
        results = dry_run.run_dry_run(args.out, tiny=args.smoke, threads=args.threads or 2, sections=args.sections,
                                      keep=args.keep)
        return 1 if dry_run.failed(results) else 0
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)  # resolved by add_device_option: auto -> cuda when present
    results = run_suite(args.out, args.smoke, device, args.sections)
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
