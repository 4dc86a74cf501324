"""VAE training speed: steps/s and audio-seconds/s, with and without the online teacher.

On a GPU: the released-size config (vae/configs/semantic_vae.yaml: 72 M-parameter VAE, full-size
discriminators, 3 s crops) with a random-init WavLM-Large-sized teacher (same compute as
microsoft/wavlm-large; pass --teacher to use a real one). On CPU: the tiny configs with a tiny
random-init WavLM. Synthetic audio, so it runs offline.

    python benchmarks/vae_train_speed.py [--steps 10] [--batch-size N] [--segment S] [--tiny] [--teacher DIR_OR_ID]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]


def make_audio(folder: Path, n: int = 16, seconds: float = 4.0) -> None:
    g = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(16000 * seconds)) / 16000
        x = 0.3 * np.sin(2 * np.pi * (100 + 150 * g.random()) * t) + 0.01 * g.standard_normal(t.shape)
        sf.write(folder / f"b{i:02d}.wav", x.astype(np.float32), 16000)


def make_teacher(folder: Path, large: bool) -> Path:
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    if large:  # WavLM-Large shapes: 24 layers, 1024 wide, layer-norm conv front end
        cfg = WavLMConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                          feat_extract_norm="layer", do_stable_layer_norm=True)
    else:
        cfg = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                          feat_extract_norm="layer", do_stable_layer_norm=True)
    WavLMModel(cfg).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return folder


def measure(cfg, steps: int, warmup: int = 2) -> tuple[float, float]:
    from vae.data import make_loader
    from vae.train import Trainer

    tr = Trainer(cfg)
    it = iter(make_loader(tr.dataset, cfg.data.batch_size, cfg.seed, cfg.data.num_workers))
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        tr.advance([tr._to_device(next(it))])  # one step, counted (GAN warm-ups follow the count)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        tr.advance([tr._to_device(next(it))])  # one step, counted (GAN warm-ups follow the count)
    sync()
    sps = steps / (time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / steps  # this process's CPU seconds a step: honest on a shared machine
    return sps, sps * cfg.data.batch_size * cfg.data.segment_seconds * tr.acc.num_processes, cpu


def main() -> None:
    from svae_tts.config import load_config
    from vae.train_config import TrainConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--segment", type=float)
    p.add_argument("--tiny", action="store_true", help="tiny configs even on a GPU")
    p.add_argument("--teacher", help="teacher hub id or dir (default: random-init WavLM of the right size)")
    p.add_argument("--mixed-precision", default="no")
    p.add_argument("--adversarial", action="store_true", help="tiny configs: discriminator on from step 0")
    args = p.parse_args()
    gpu = torch.cuda.is_available()
    tiny = args.tiny or not gpu
    if not gpu:
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "audio").mkdir()
        make_audio(tmp / "audio")
        teacher = args.teacher or str(make_teacher(tmp / "teacher", large=not tiny))
        rows = []
        for semantic in (False, True):
            name = ("tiny_semantic" if semantic else "tiny_acoustic") if tiny else ("semantic_vae" if semantic else "acoustic_vae_dim64")
            over = [f"run_dir={tmp / name}", f"data.train={tmp / 'audio'}", "data.num_workers=2", "progress=false",
                    "data.valid_items=0", f"mixed_precision={args.mixed_precision}"]
            if args.batch_size:
                over.append(f"data.batch_size={args.batch_size}")
            if args.segment:
                over.append(f"data.segment_seconds={args.segment}")
            if semantic:
                over.append(f"teacher.model={teacher}")
            if tiny and args.adversarial:
                over += ["loss.disc_start_step=0", "loss.adv_start_step=0"]
            cfg = load_config(TrainConfig, ROOT / "vae" / "configs" / f"{name}.yaml", over)
            sps, aps, cpu = measure(cfg, args.steps)
            rows.append((name, "online" if semantic else "none", cfg.data.batch_size, cfg.data.segment_seconds, sps, aps, cpu))
    dev = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} thread)"
    adv = "on" if (not tiny or args.adversarial) else "off (tiny configs start it at step 100)"
    print(f"device: {dev}; mixed precision: {args.mixed_precision}; discriminator: {adv}; {args.steps} timed steps")
    print(f"{'config':<20} {'teacher':<8} {'batch':>5} {'crop s':>6} {'steps/s':>8} {'audio s/s':>9} {'s/step':>7} {'cpu s/step':>10}")
    for name, t, b, s, sps, aps, cpu in rows:
        print(f"{name:<20} {t:<8} {b:>5} {s:>6.1f} {sps:>8.3f} {aps:>9.2f} {1 / sps:>7.3f} {cpu:>10.3f}")


if __name__ == "__main__":
    main()
