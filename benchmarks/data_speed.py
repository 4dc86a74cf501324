"""Data-preparation speed: eSpeak corpus generation and VAE latent extraction.

    python benchmarks/data_speed.py [--hours 0.1] [--num-proc 1 2] [--vae-presets tiny semantic_vae]

Prints (1) eSpeak corpus audio-seconds generated per wall second (synthesis, 16 kHz resampling,
phonemes, wav writing and the dataset save included) for each ``--num-proc``; (2) latent
extraction real-time factor (compute seconds per audio second; lower is faster) for each VAE
preset (random weights: speed does not depend on them) on CPU, and on CUDA when available.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch


def espeak_speed(hours: float, num_proc: int, workdir: Path) -> tuple[float, float, float]:
    from data_prep.espeak_corpus import build_espeak_corpus

    out = workdir / f"espeak_np{num_proc}"
    t0 = time.perf_counter()
    dd = build_espeak_corpus(out, hours=hours, voices=24, seed=0, num_proc=num_proc, overwrite=True)
    wall = time.perf_counter() - t0
    audio = sum(sum(d["duration"]) for d in dd.values())
    return audio, wall, audio / wall


def latent_rtf(preset: str, device: str, wavs: list[torch.Tensor], batch_size: int) -> float:
    from vae import SemanticVAE

    vae = SemanticVAE.from_preset(preset).eval().to(device)
    vae.encode_clips(wavs[:batch_size])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(0, len(wavs), batch_size):
        vae.encode_clips(wavs[i: i + batch_size])
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return wall / (sum(w.shape[0] for w in wavs) / vae.sample_rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=0.1)
    ap.add_argument("--num-proc", type=int, nargs="+", default=[1])
    ap.add_argument("--vae-presets", nargs="+", default=["tiny"])
    ap.add_argument("--latent-utts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="data_speed_"))
    try:
        print(f"## eSpeak corpus ({args.hours} h requested, 24 voices, 16 kHz)")
        print("| num_proc | audio s | wall s | audio-s per s |")
        print("|---:|---:|---:|---:|")
        for n in args.num_proc:
            audio, wall, speed = espeak_speed(args.hours, n, work)
            print(f"| {n} | {audio:.0f} | {wall:.1f} | {speed:.0f} |")
        from svae_tts.formats.corpus import load_corpus
        from svae_tts.audio import load_audio

        dd = load_corpus(work / f"espeak_np{args.num_proc[0]}")
        wavs = [load_audio(r["audio"])[0] for r in dd["train"].select(range(min(args.latent_utts, len(dd["train"]))))]
        print(f"\n## Latent extraction ({len(wavs)} utterances, {sum(w.shape[0] for w in wavs) / 16000:.0f} s, "
              f"batch {args.batch_size}, torch threads {args.threads})")
        print("| VAE preset | device | RTF (s compute / s audio) | x real time |")
        print("|---|---|---:|---:|")
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for preset in args.vae_presets:
            for dev in devices:
                rtf = latent_rtf(preset, dev, wavs, args.batch_size)
                print(f"| {preset} | {dev} | {rtf:.4f} | {1 / rtf:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
