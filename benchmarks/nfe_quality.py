"""How few flow steps keep a trained TTS model's quality: each NFE (and, where f5-tts has one, its
pruned EPSS schedule against the uniform grid) scored against NFE 32 on the same items and seeds.

For every setting: the judge's CER (with a paired sign-flip test against NFE 32 over the items),
speaker similarity to the prompt, and the multi-scale log-mel distance of each item's output to its
NFE-32 output (same seed, same length: how far the ODE solution moved). Speed per NFE is linear
and measured apart (``benchmarks/tts_speed.py``), so nothing here depends on machine load.

    python benchmarks/nfe_quality.py --model runs/demo/tts_semantic/exports/step_00003000 \\
        --test runs/demo/eval/test_list.jsonl --asr runs/demo/judge/exports/final --out runs/nfe_quality

Writes ``nfe_quality.json`` and ``nfe_quality.md`` to ``--out``. The verdict is the statistics':
a setting "keeps" CER when its paired test against NFE 32 gives p >= 0.05 *and* the table says
how large the difference is; with few items that means little, and the table says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.convergence import EvalSynthesis, evaluate_model, synthesizer_fn  # noqa: E402
from eval.metrics.signal import mel_distance  # noqa: E402
from eval.scoring import Scorer, aggregate, paired_test  # noqa: E402
from eval.testlist import load_test_list  # noqa: E402
from svae_tts.audio import load_audio  # noqa: E402
from svae_tts.cli import add_device_option  # noqa: E402
from tts_recipes.synthesis import Synthesizer  # noqa: E402

EPSS_NFE = (5, 6, 7, 10, 12, 16)  # the NFEs f5-tts has a pruned schedule for
REFERENCE_NFE = 32


def settings_to_run(nfes: list[int]) -> list[tuple[str, int, bool]]:
    """(label, nfe, epss): NFE 32 first (the reference), then each NFE uniform, and EPSS where it exists."""
    runs = [(f"nfe{REFERENCE_NFE}", REFERENCE_NFE, False)]
    for n in sorted(set(nfes) - {REFERENCE_NFE}):
        runs.append((f"nfe{n}", n, False))
        if n in EPSS_NFE:
            runs.append((f"nfe{n}-epss", n, True))
    return runs


def run(args) -> dict:
    items = load_test_list(args.test)[: args.items]
    scorer = Scorer(asr=args.asr, sim=args.sim, mos=None, device=args.device).load()
    out = Path(args.out)
    results: dict = {"model": str(args.model), "test": str(args.test), "items": len(items), "asr": args.asr,
                     "sim": args.sim, "settings": {}}
    rows_by: dict[str, list[dict]] = {}
    synth = Synthesizer.from_pretrained(args.model, device=args.device)  # loaded once for every setting
    for label, nfe, epss in settings_to_run(args.nfe):
        settings = EvalSynthesis(nfe=nfe, seed=args.seed, epss=epss)
        rows, failed = evaluate_model(synthesizer_fn(synth, settings), items, scorer, args.seed,
                                      out / "audio" / label, desc=label)
        rows_by[label] = rows
        results["settings"][label] = {"nfe": nfe, "epss": epss, "failed": len(failed),
                                      **{k: v for k, v in aggregate(rows).items() if k in ("cer", "cer_corpus", "sim", "n")}}
    ref_label = f"nfe{REFERENCE_NFE}"
    for label, entry in results["settings"].items():
        if label == ref_label:
            continue
        dists = []
        scored_at_32 = {r["id"] for r in rows_by[ref_label]}
        for row in rows_by[label]:
            if row["id"] not in scored_at_32:
                continue  # failed at NFE 32 (listed there): nothing to compare with
            a, sr = load_audio(out / "audio" / ref_label / f"{row['id']}.wav")
            b, _ = load_audio(out / "audio" / label / f"{row['id']}.wav")
            dists.append(mel_distance(a, b, sr))
        entry["mel_distance_to_nfe32"] = sum(dists) / len(dists) if dists else None
        entry["cer_vs_nfe32"] = paired_test(rows_by[label], rows_by[ref_label], "cer") if args.asr else None
        entry["sim_vs_nfe32"] = paired_test(rows_by[label], rows_by[ref_label], "sim") if args.sim else None
    return results


def markdown(results: dict) -> str:
    lines = [f"# NFE vs quality: `{results['model']}`", "",
             f"{results['items']} items of `{results['test']}`, judge `{results['asr']}`, speaker model `{results['sim']}`; "
             "each setting against NFE 32 on the same items and seeds (paired sign-flip tests).", "",
             "| setting | CER | CER - NFE32 (p) | SIM | SIM - NFE32 (p) | mel dist. to NFE32 |",
             "|---|---|---|---|---|---|"]
    for label, e in results["settings"].items():
        def cmp(key: str) -> str:
            t = e.get(key)
            return f"{t['diff']:+.3f} ({t['p']:.3f})" if t else "—"

        md = e.get("mel_distance_to_nfe32")
        cer, sim = e.get("cer"), e.get("sim")
        lines.append(f"| {label} | {cer if cer is None else f'{cer:.3f}'} | {cmp('cer_vs_nfe32')} | "
                     f"{sim if sim is None else f'{sim:.3f}'} | {cmp('sim_vs_nfe32')} | {'—' if md is None else f'{md:.3f}'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="exported TTS model dir")
    p.add_argument("--test", required=True, help="test list (.jsonl or LibriSpeech-PC .lst)")
    p.add_argument("--asr", default=None, help="judge (CTC dir / hub id); without it no CER")
    p.add_argument("--sim", default="resemblyzer", help="speaker model, or none")
    p.add_argument("--nfe", type=int, nargs="+", default=[4, 5, 6, 7, 8, 10, 12, 16])
    p.add_argument("--items", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    add_device_option(p)
    args = p.parse_args(argv)
    args.sim = None if str(args.sim).lower() == "none" else args.sim
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nfe_quality.json").write_text(json.dumps(results, indent=2))
    (out / "nfe_quality.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
