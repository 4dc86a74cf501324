"""Encode / decode real-time factor of a VAE (default: the full-size ``semantic_vae`` preset).

RTF = compute seconds / seconds of audio processed (batch x duration); below 1 is faster than
real time. Weights are random (speed does not depend on them). Each figure is the median of
``--repeats`` timed runs after one warm-up run. Decode is timed for each of ``--decoders``, in turns:
``eager`` (the BigVGAN modules as trained), ``fast`` (``vae.fast_decode``'s inference copy in fp32,
exact to ~1e-7: what ``vae.decode`` runs on a CPU) and ``fast-bf16`` (that copy in bfloat16:
``--decoder-dtype bfloat16``), and on request the copy under ``torch.compile`` (``fast-compiled``,
``fast-bf16-compiled``); the table gives each one's speed-up over eager from this same run and its
largest deviation from the eager waveform.

    python benchmarks/vae_speed.py                       # CPU (+ CUDA when available), batch 1 and 8, 3 s
    python benchmarks/vae_speed.py --duration 2 --batches 1 8 --devices cpu --threads 2
    python benchmarks/vae_speed.py --model /path/to/model_dir
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import sync, time_in_turns  # noqa: E402
from svae_tts.device import resolve_device  # noqa: E402
from vae.fast_decode import inference_decoder  # noqa: E402
from vae.load import load_vae  # noqa: E402


DECODERS = ("eager", "fast", "fast-bf16", "fast-compiled", "fast-bf16-compiled")


def _compiled(vae, z: torch.Tensor, n: int, dtype: torch.dtype, device: torch.device):
    """The inference copy in ``dtype`` under ``torch.compile`` (inductor, static shapes): a decode
    function for this input and the seconds its first call (the compilation) took."""
    cc = torch.compile(inference_decoder(vae.decoder).to(dtype), dynamic=False)
    x = z.transpose(1, 2).to(dtype)
    t0 = time.perf_counter()
    cc(x)
    sync(device)
    return (lambda: cc(x)[:, 0, :n].float()), time.perf_counter() - t0


def bench(model: str, devices: list[str], batches: list[int], duration: float, repeats: int,
          decoders: list[str] = ("eager", "fast")) -> list[dict]:
    rows = []
    for dev_name in devices:
        device = resolve_device(dev_name)
        vae = load_vae(model, device)
        n = int(round(duration * vae.sample_rate))
        for batch in batches:
            g = torch.Generator().manual_seed(0)
            wav = (0.1 * torch.randn(batch, n, generator=g)).to(device)
            with torch.inference_mode():
                z = vae.encode_stats(wav)[0]
                t_enc = time_in_turns({"enc": lambda: vae.encode_stats(wav)}, device, repeats)["enc"]
                zt = z.transpose(1, 2)
                reference = vae.decoder(zt)[:, 0, :n].float()
                copy = inference_decoder(vae.decoder) if "fast" in decoders else None
                copy_bf16 = inference_decoder(vae.decoder).to(torch.bfloat16) if "fast-bf16" in decoders else None
                runs, compile_s = {}, {}
                for name in decoders:
                    if name.endswith("-compiled"):
                        dtype = torch.bfloat16 if "bf16" in name else torch.float32
                        runs[name], compile_s[name] = _compiled(vae, z, n, dtype, device)
                    elif name == "fast":
                        runs[name] = lambda: copy(zt)[:, 0, :n]  # noqa: E731
                    elif name == "fast-bf16":  # as ``set_decode_dtype("bfloat16")`` decodes
                        runs[name] = lambda: copy_bf16(zt.to(torch.bfloat16))[:, 0, :n].float()  # noqa: E731
                    else:  # the BigVGAN modules as trained
                        runs[name] = lambda: vae.decoder(zt)[:, 0, :n]  # noqa: E731
                seconds = time_in_turns(runs, device, repeats)
                for name, run in runs.items():
                    t_dec = seconds[name]
                    err = (run().float() - reference).abs().max().item()
                    rows.append({"device": dev_name, "decoder": name, "batch": batch, "audio_s": batch * duration,
                                 "enc_s": t_enc, "dec_s": t_dec, "enc_rtf": t_enc / (batch * duration),
                                 "dec_rtf": t_dec / (batch * duration), "max_abs_vs_eager": err,
                                 "compile_s": compile_s.get(name, float("nan")), "peak": reference.abs().max().item()})
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for row in rows:  # speed-up over the eager decode of the same device and batch, from this run
        base = next((r for r in rows if r["device"] == row["device"] and r["batch"] == row["batch"]
                     and r["decoder"] == "eager"), None)
        row["dec_speedup"] = base["dec_s"] / row["dec_s"] if base else float("nan")
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'device':<8} {'batch':>5} {'audio s':>8} {'enc RTF':>8} {'decoder':<18} {'dec s':>8} {'dec RTF':>8} "
            f"{'vs eager':>8} {'max |diff|':>10} {'compile s':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['device']:<8} {r['batch']:>5} {r['audio_s']:>8.1f} {r['enc_rtf']:>8.4f} {r['decoder']:<18} "
                     f"{r['dec_s']:>8.3f} {r['dec_rtf']:>8.4f} {r['dec_speedup']:>7.2f}x {r['max_abs_vs_eager']:>10.2e} "
                     f"{r['compile_s']:>9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="preset:semantic_vae", help="model dir, hub id or preset:NAME")
    p.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--duration", type=float, default=3.0, help="seconds of audio per item")
    p.add_argument("--repeats", type=int, default=2, help="timed turns after the warm-up (median; even: as many "
                                                           "in forward as in backward order)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads on CPU")
    p.add_argument("--decoders", nargs="+", default=list(DECODERS[:3]), choices=DECODERS,
                   help="the *-compiled ones run torch.compile first (minutes on 2 CPU cores; the compile time is "
                        "printed, not counted in the speed)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    rows = bench(args.model, devices, args.batches, args.duration, args.repeats, args.decoders)
    gpu = f", {torch.cuda.get_device_name(0)}" if any(d.startswith("cuda") for d in devices) else ""
    print(f"VAE speed: {args.model}, {args.duration:g} s per item, median of {args.repeats} after 1 warm-up, "
          f"{torch.get_num_threads()} CPU threads{gpu}, torch {torch.__version__}")
    print(format_table(rows))


if __name__ == "__main__":
    main()
