"""Latent vs mel TTS speed at the same DiT size and NFE, in one process.

Synthesis real-time factor (wall time / seconds of generated audio; the reference encoding, the
DiT sampling and the decoder also shown separately) and training throughput (steps/s and audio-seconds/s on equal batches of audio) for
the latent pipeline (VAE latents, 40 Hz for the release) and the mel pipeline (100-bin mel at
93.75 Hz + Vocos). Speed does not depend on weight values, so every network is random-init at its
real size unless a trained dir is given: the VAE from ``--vae`` (dir) or ``--vae-preset``
(``semantic_vae`` = the released 72 M architecture), Vocos from ``--vocos`` (dir / hub id) or a
random full-size Vocos (512/1536/8, as charactr/vocos-mel-24khz).

    python benchmarks/tts_speed.py --preset base --nfe 32 --device cuda
    python benchmarks/tts_speed.py --preset tiny --nfe 8            # CPU smoke figures
"""

from __future__ import annotations

import argparse
import string
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import sync, time_in_turns  # noqa: E402
from svae_tts.cli import add_device_option  # noqa: E402
from tts_recipes.feature_space import FeatureSpace, LatentFeatureSpace, MelFeatureSpace, load_vocos, write_random_vocos  # noqa: E402
from tts_recipes.model import CFMConfig, TTSConfig, TTSModel  # noqa: E402
from tts_recipes.synthesis import Synthesizer  # noqa: E402
from tts_recipes.text import UNK  # noqa: E402
from tts_recipes.train import load_train_config  # noqa: E402

VOCAB = [UNK] + sorted(set(string.ascii_lowercase + string.ascii_uppercase + " .,!?'-"))
REF_TEXT = "Some call me nature, others call me mother nature."
TEXT = "I am the speech you asked for, read at an even pace without hurry."


def build_spaces(args, device):
    from vae import SemanticVAE

    vae = SemanticVAE.from_pretrained(args.vae) if args.vae else SemanticVAE.from_preset(args.vae_preset)
    latent = LatentFeatureSpace(args.vae or f"random:{args.vae_preset}", torch.zeros(vae.latent_dim),
                                torch.ones(vae.latent_dim), vae_model=vae)
    if args.vocos:
        vocos = load_vocos(args.vocos)
    else:
        dim, inter, layers = getattr(args, "vocos_size", (512, 1536, 8))
        tmp = write_random_vocos(Path(tempfile.mkdtemp()) / "vocos", dim=dim, intermediate_dim=inter, num_layers=layers)
        vocos = load_vocos(str(tmp))
    mel = MelFeatureSpace(args.vocos or "random:vocos-mel-24khz", vocos_model=vocos)
    return {"latent": latent.to(device), "mel": mel.to(device)}


def build_model(preset: str, space: FeatureSpace) -> TTSModel:
    dit = load_train_config(preset).model
    return TTSModel(TTSConfig(dit=dit, cfm=CFMConfig(), feature=space.to_config(), vocab=VOCAB))


@torch.no_grad()
def time_synthesis(synths: dict[str, Synthesizer], args, device) -> dict[str, dict]:
    """End to end through ``Synthesizer.synthesize`` for every pipeline, timed in turns (so the
    host's drift reaches both alike), then each pipeline's three stages on their own."""
    rows = {}
    kw = dict(nfe=args.nfe, cfg_strength=2.0, sway=-1.0, seed=0, duration=args.seconds)
    refs = {name: (torch.randn(int(args.ref_seconds * s.sample_rate)) * 0.1, s.sample_rate) for name, s in synths.items()}
    totals = time_in_turns({name: (lambda s=synth, r=refs[name]: s.synthesize(TEXT, r, REF_TEXT, **kw))
                            for name, synth in synths.items()}, device, args.repeats)
    for name, synth in synths.items():
        sr, space = synth.sample_rate, synth.space
        ref_wav = torch.randn(int(args.ref_seconds * sr), device=device) * 0.1
        cond = space.encode(ref_wav)
        gen = round(args.seconds * space.frame_rate)
        n_total = cond.shape[1] + gen
        text = synth.model.vocab.encode([synth.model.model_text(f"{REF_TEXT} {TEXT}")], warn=False).to(device)
        feats = torch.randn(1, gen, space.dim, device=device)
        stage = time_in_turns({
            "enc": lambda: space.encode(ref_wav),
            "dit": lambda: synth.model.cfm.sample(cond, text, n_total, steps=args.nfe, cfg_strength=2.0,
                                                  sway_sampling_coef=-1.0, seed=0),
            "dec": lambda: space.decode(feats)}, device, args.repeats)
        audio_s = gen * space.hop_length / sr
        # the timed seconds and the audio they made beside each ratio, so a reader can check it
        rows[name] = {"rtf": totals[name] / audio_s, "dit_rtf": stage["dit"] / audio_s,
                      "encoder_rtf": stage["enc"] / audio_s, "decoder_rtf": stage["dec"] / audio_s, "frames": n_total,
                      "gen_frames": gen, "audio_s": audio_s, "seconds": totals[name]}
    return rows


def time_training(model: TTSModel, space: FeatureSpace, args, device) -> dict:
    model.train().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    frames = round(args.train_seconds * space.frame_rate)
    feats = torch.randn(args.train_batch, frames, space.dim, device=device)
    lens = torch.full((args.train_batch,), frames, device=device, dtype=torch.long)
    text = model.vocab.encode([model.model_text(TEXT)] * args.train_batch, warn=False).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def step():
        with autocast:
            loss = model(feats, text, lens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.train_steps):
        step()
    sync(device)
    sps = args.train_steps / (time.perf_counter() - t0)
    return {"steps_per_s": sps, "audio_s_per_s": sps * args.train_batch * args.train_seconds, "train_frames": frames}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny", help="DiT preset: tiny, small, base")
    p.add_argument("--nfe", type=int, default=32)
    add_device_option(p)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of speech generated per call")
    p.add_argument("--ref-seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--vae", default=None, help="trained VAE dir (default: random-init --vae-preset)")
    p.add_argument("--vae-preset", default="semantic_vae")
    p.add_argument("--vocos", default=None, help="Vocos dir or hub id (default: random-init full-size)")
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--train-seconds", type=float, default=10.0, help="seconds of audio per training utterance")
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for training")
    p.add_argument("--decoder-dtype", choices=["float32", "bfloat16"], default="float32",
                   help="precision of the VAE decode at synthesis (the latent pipeline's decoder)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    spaces = build_spaces(args, device)
    models = {name: build_model(args.preset, space) for name, space in spaces.items()}
    synths = {name: Synthesizer(models[name], space, device, decoder_dtype=args.decoder_dtype)
              for name, space in spaces.items()}
    synthesis = time_synthesis(synths, args, device)
    del synths
    rows = {}
    for name, space in spaces.items():
        rows[name] = {"params_M": models[name].num_parameters() / 1e6, "dim": space.dim, "hz": space.frame_rate,
                      **synthesis[name], **time_training(models[name], space, args, device)}
        del models[name]
    print(f"\nTTS speed: DiT preset {args.preset}, NFE {args.nfe}, {args.seconds:g} s generated after a "
          f"{args.ref_seconds:g} s prompt, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({args.threads} thread(s))"))
    print(f"training: batch {args.train_batch} x {args.train_seconds:g} s, {args.train_steps} timed steps"
          + (", bf16" if args.bf16 else ", fp32") + f"; VAE decode {args.decoder_dtype}")
    hdr = f"{'pipeline':<8} {'DiT M':>7} {'dim':>4} {'Hz':>6} {'frames':>6} {'RTF':>8} {'DiT RTF':>8} {'enc RTF':>8} {'dec RTF':>8} {'steps/s':>8} {'audio s/s':>10}"
    print(hdr)
    print("-" * len(hdr))
    for name, r in rows.items():
        print(f"{name:<8} {r['params_M']:>7.2f} {r['dim']:>4} {r['hz']:>6.2f} {r['frames']:>6} {r['rtf']:>8.4f} "
              f"{r['dit_rtf']:>8.4f} {r['encoder_rtf']:>8.4f} {r['decoder_rtf']:>8.4f} {r['steps_per_s']:>8.3f} {r['audio_s_per_s']:>10.1f}")
    lat, mel = rows["latent"], rows["mel"]
    print(f"\nmel / latent: synthesis RTF x{mel['rtf'] / lat['rtf']:.2f} (DiT only x{mel['dit_rtf'] / lat['dit_rtf']:.2f}), "
          f"training throughput latent / mel x{lat['audio_s_per_s'] / mel['audio_s_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
