"""``svae-tts eval probe``: how much linguistic content a latent space carries, read by a linear CTC probe.

A single linear layer (latent dim -> units + blank) is trained with CTC on frozen, per-channel
standardised latents of the corpus' train split and scored (greedy decoding) on the test split,
whose speakers are held out (test speakers that also occur in train are dropped). Units are
characters of the normalised transcript (CER) or, with ``unit="phoneme"``, the symbols of the
``phonemes`` column (PER; stress marks dropped, spaces kept as word boundaries). A linear read-out
is deliberate: it measures what is *explicitly* in each frame, which is what the Semantic-VAE's
alignment to an SSL teacher is meant to add. Nothing here needs a pretrained model, so it runs
offline; written by hand because no library offers a CTC linear probe over arbitrary latents.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from data_prep.ctc_vocab import PAD, SEP, ctc_tokenizer, greedy_decode
from eval.errors import EvalError
from eval.metrics.text import ErrorCounts, aggregate_error_rates
from eval.report import markdown_table
from eval.scoring import SIGNIFICANT_P, compare_pairs, comparison_sentence, outcome, p_text, paired_test
from svae_tts.audio import load_audio
from svae_tts.fileio import atomic_write_json, atomic_write_text, claim_report_dir, guard_output
from svae_tts.boundary import item_boundary
from svae_tts.config import Checked, nonneg, positive, seed_field
from svae_tts.formats.corpus import corpus_audio, load_corpus
from svae_tts.formats.latent_set import is_latent_set, load_latent_set, split_latents
from svae_tts.text import asr_scoring_text

log = logging.getLogger(__name__)

PROBE_COMMAND = "eval probe"  # the command name in the output folder's manifest
STRESS = set("ˈˌ")


@dataclass
class ProbeConfig(Checked):
    unit: str = "char"  # "char" or "phoneme"
    # 300-400 steps leave a linear CTC probe on the all-blank plateau, where it has learned close to
    # nothing and paired tests between spaces can come out "significant" either way
    # (docs/results/notes/probe_steps.md); from 2,000 steps the loss is past it
    steps: int = positive(2000)
    lr: float = positive(1e-2)
    batch_size: int = positive(16)
    weight_decay: float = nonneg(0.0)
    seed: int = seed_field(0)


def tokenize(text: str, unit: str) -> list[str]:
    """Characters of the normalised text, or phoneme symbols (stress dropped, '|' = word boundary)."""
    if unit == "char":
        return list(asr_scoring_text(text).replace(" ", SEP))
    if unit == "phoneme":
        return [SEP if ch.isspace() else ch for ch in " ".join(str(text).split()) if ch not in STRESS]
    raise EvalError(f"unknown probe unit {unit!r} (choose char or phoneme)")


class Vocab:
    """The probe's units: the CTC blank (id 0) and the sorted symbols of the training set.

    No unknown token: a test symbol the training set never showed is left out of the targets and
    counts as a deletion. Decoding is ``Wav2Vec2CTCTokenizer``'s, built from these units."""

    def __init__(self, sequences: list[list[str]]):
        self.symbols = sorted({s for seq in sequences for s in seq})
        self.index = {s: i + 1 for i, s in enumerate(self.symbols)}  # 0 = CTC blank
        self.tokenizer = ctc_tokenizer({PAD: 0, **self.index})

    def encode(self, seq: list[str]) -> list[int]:
        return [self.index[s] for s in seq if s in self.index]  # unseen test symbols count as deletions

    def decode(self, logits: torch.Tensor) -> list[str]:
        """Best path of one utterance's ``(T, units)`` logits, as symbols ('|' = word boundary)."""
        return list(greedy_decode(logits[None], self.tokenizer)[0].replace(" ", SEP))

    def __len__(self) -> int:
        return len(self.symbols) + 1


def train_probe(feats: list[torch.Tensor], targets: list[list[int]], num_classes: int, cfg: ProbeConfig
                ) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor, list[float]]:
    """Fit the linear CTC read-out; returns (layer, mean, std, losses). ``feats`` are (T, D) each."""
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    cat = torch.cat(feats)
    mean, std = cat.mean(0), cat.std(0).clamp_min(1e-5)
    dim = cat.shape[1]
    layer = torch.nn.Linear(dim, num_classes)
    opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    usable = [i for i, (f, t) in enumerate(zip(feats, targets)) if t and f.shape[0] >= len(t)]
    if not usable:
        raise EvalError("no training utterance has at least as many latent frames as units: the frame rate is too low "
                        "for CTC on these transcripts")
    losses = []
    for _ in tqdm(range(cfg.steps), desc="probe", unit="step", leave=False):
        idx = [usable[int(j)] for j in torch.randint(len(usable), (min(cfg.batch_size, len(usable)),), generator=g)]
        x = torch.nn.utils.rnn.pad_sequence([(feats[i] - mean) / std for i in idx], batch_first=True)
        logp = layer(x).log_softmax(-1).transpose(0, 1)  # (T, B, C)
        tgt = torch.cat([torch.tensor(targets[i]) for i in idx])
        loss = F.ctc_loss(logp, tgt, torch.tensor([feats[i].shape[0] for i in idx]),
                          torch.tensor([len(targets[i]) for i in idx]), blank=0, zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return layer, mean, std, losses


@torch.no_grad()
def decode_probe(layer, mean, std, feats: list[torch.Tensor], vocab: Vocab) -> list[list[str]]:
    return [vocab.decode(layer((f - mean) / std)) for f in feats]


def unit_error_counts(refs: list[list[str]], hyps: list[list[str]]) -> list[ErrorCounts | None]:
    """Edit counts per utterance over symbol sequences (word boundaries count as symbols); ``None``
    for an empty reference, which has no rate."""
    import jiwer

    counts = []
    for r, h in zip(refs, hyps):
        if not r:
            counts.append(None)
        elif not h:
            counts.append(ErrorCounts(0, len(r), 0, len(r)))
        else:
            o = jiwer.process_words(" ".join(r), " ".join(h))
            counts.append(ErrorCounts(o.substitutions, o.deletions, o.insertions, o.hits + o.substitutions + o.deletions))
    return counts


def probe_features(feats_train, texts_train, feats_test, texts_test, cfg: ProbeConfig,
                   ids_test: list[str] | None = None) -> dict:
    """Train on one set of (features, transcripts) and score on another: the probe's core. ``items``
    holds each test utterance's edit counts (``c_err`` / ``c_n``, whatever the unit) under its id
    (``ids_test``, or its index), for paired tests between latent spaces."""
    seq_train = [tokenize(t, cfg.unit) for t in texts_train]
    seq_test = [tokenize(t, cfg.unit) for t in texts_test]
    vocab = Vocab(seq_train)
    layer, mean, std, losses = train_probe(feats_train, [vocab.encode(s) for s in seq_train], len(vocab), cfg)
    hyps = decode_probe(layer, mean, std, feats_test, vocab)
    counts = unit_error_counts(seq_test, hyps)
    err = aggregate_error_rates([c for c in counts if c is not None])
    ids = ids_test if ids_test is not None else [str(i) for i in range(len(seq_test))]
    tail = losses[-max(1, len(losses) // 10):]
    return {"error_rate": err["mean"], "error_rate_corpus": err["corpus"], "loss_first": losses[0],
            "loss_last": sum(tail) / len(tail), "num_units": len(vocab) - 1,
            "items": [{"id": i, "c_err": c.errors, "c_n": c.ref_len} for i, c in zip(ids, counts) if c is not None],
            "examples": [{"ref": "".join(r).replace("|", " "), "hyp": "".join(h).replace("|", " ")}
                         for r, h in list(zip(seq_test, hyps))[:3]]}


def paired_probe_tests(models: dict[str, dict]) -> list[dict]:
    """Each pair of probed latent spaces compared on the same test utterances
    (:func:`eval.scoring.compare_pairs`): the difference of their corpus-level error rates and its
    paired sign-flip test (:func:`eval.scoring.paired_test`; ``metric`` is ``cer`` whatever the
    unit, as the items store their edit counts). A semantic space is put first against each
    non-semantic one, so ``diff`` < 0 means it reads better."""
    names = sorted(models, key=lambda n: not models[n].get("semantic"))  # semantic first, stable otherwise
    return compare_pairs(names, lambda a, b: (models[a].get("items", []), models[b].get("items", []), {}),
                         paired_test, ("cer",))


Split = tuple[list[torch.Tensor], list[str], list[str]]  # features (T, D), texts, ids


def _encode_split(codec, rows, desc) -> tuple[Split, list[dict]]:
    from eval.codecs import features

    feats, texts, ids, skipped = [], [], [], []
    for r in tqdm(rows, desc=desc, unit="utt", leave=False):
        with item_boundary(r["id"], log) as item:
            wav, _ = load_audio(r["audio"], codec.sample_rate)
            feat = features(codec, wav).float()
        if item.failed:
            skipped.append({"id": r["id"], "path": r["audio"], "reason": item.reason})
            continue
        feats.append(feat)
        texts.append(r["text"] if r.get("text") is not None else "")
        ids.append(str(r["id"]))
    return (feats, texts, ids), skipped


def _encoded(spec: str, train_rows: list[dict], test_rows: list[dict], device: str, name: str
             ) -> tuple[Split, Split, dict, list[dict]]:
    """The corpus rows encoded by a VAE (or ``mel:``) now: (train, test, what the space is, skipped rows)."""
    from eval.codecs import codec_facts, load_codec

    codec = load_codec(spec, device)
    train, sk1 = _encode_split(codec, train_rows, f"encode train {name}")
    test, sk2 = _encode_split(codec, test_rows, f"encode test {name}")
    facts = codec_facts(codec)
    meta = {"kind": facts["kind"], "semantic": facts["semantic"], "latent_dim": facts["latent_dim"],
            "frame_rate": codec.frame_rate}
    return train, test, meta, sk1 + sk2


def _latent_set_semantic(info: dict) -> bool | None:
    """Whether the set's VAE was aligned: recorded in the set, else in its VAE's config when that is at
    hand (sets written before the set recorded it); None when neither says."""
    if "semantic" in info:
        return bool(info["semantic"])
    config = Path(str(info.get("vae", ""))) / "config.json"
    try:
        value = json.loads(config.read_text()).get("semantic")
    except (OSError, ValueError, AttributeError):
        return None
    return None if value is None else bool(value)


def _from_latent_set(spec: str, train_rows: list[dict], test_rows: list[dict], device: str, name: str
                     ) -> tuple[Split, Split, dict, list[dict]]:
    """The corpus rows' latents as a latent set (``svae-tts data latents``) holds them: the posterior
    means the TTS trains on, without encoding the corpus again. Texts and speakers come from the corpus;
    a row the set lacks is skipped and reported."""
    ls = load_latent_set(spec)
    wanted = {str(r["id"]) for r in train_rows + test_rows}
    stored: dict[str, torch.Tensor] = {}
    for split in ls.dataset.values():  # only the probed rows are kept
        stored.update((i, z) for i, z in zip(split["id"], split_latents(split, ls.latent_dim)) if i in wanted)

    def pick(rows: list[dict]) -> tuple[Split, list[dict]]:
        feats, texts, ids, skipped = [], [], [], []
        for r in rows:
            if str(r["id"]) not in stored:
                skipped.append({"id": r["id"], "path": r["audio"], "reason": f"not in the latent set {spec}"})
                continue
            feats.append(stored[str(r["id"])])
            texts.append(r["text"] if r.get("text") is not None else "")
            ids.append(str(r["id"]))
        return (feats, texts, ids), skipped

    (train, sk1), (test, sk2) = pick(train_rows), pick(test_rows)
    if not train[0] or not test[0]:
        raise EvalError(f"latent set {spec}: holds {len(train[0])} of the corpus' {len(train_rows)} probe training "
                        f"utterances and {len(test[0])} of its {len(test_rows)} test ones (made from another corpus?)")
    meta = {"kind": "latent_set", "semantic": _latent_set_semantic(ls.info), "latent_dim": ls.latent_dim,
            "frame_rate": ls.frame_rate}
    return train, test, meta, sk1 + sk2


def run_probe(
    codecs: list[tuple[str, str]],
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: ProbeConfig | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    allow_seen_speakers: bool = False,
) -> dict:
    """Probe each VAE (or ``mel:`` reference, or latent set of this corpus) on the corpus; writes
    ``probe.json`` and ``probe.md``. A latent set is read as it is (no encoding); a VAE encodes the
    corpus with the latent set's encode path, so both give the same latents."""
    cfg = cfg or ProbeConfig()
    codecs = [(name, str(spec)) for name, spec in codecs]  # a Path is fine too; probe.json stores text
    out_dir = Path(out_dir)
    ds = load_corpus(corpus_dir)
    guard_output(out_dir, [corpus_dir, *(spec for _, spec in codecs), *corpus_audio(ds)], overwrite=overwrite,
                 exists_ok=True, command=PROBE_COMMAND, markers=("probe.json",))
    manifest = claim_report_dir(out_dir, PROBE_COMMAND, ["probe.json", "probe.md"], overwrite)
    for split in ("train", "test"):
        if split not in ds:
            raise EvalError(f"{corpus_dir}: the probe needs train and test splits (has {sorted(ds)})")
    text_col = "phonemes" if cfg.unit == "phoneme" else "text"
    if text_col not in ds["train"].column_names:
        raise EvalError(f"{corpus_dir}: unit={cfg.unit!r} needs a {text_col!r} column in the corpus")
    if len(ds["test"]) == 0:
        raise EvalError(f"{corpus_dir}: the test split is empty: nothing to probe on (build the corpus with a test split)")
    train_spk = set() if allow_seen_speakers else set(ds["train"]["speaker"])
    test_rows = [r for r in ds["test"] if r["speaker"] not in train_spk]
    dropped = len(ds["test"]) - len(test_rows)
    if not test_rows:
        raise EvalError(f"{corpus_dir}: every test speaker also occurs in train: no held-out speakers to probe on "
                        "(allow_seen_speakers=True / --allow-seen-speakers to probe anyway)")
    train_rows = list(ds["train"])
    if limit:
        train_rows, test_rows = train_rows[:limit], test_rows[:limit]
    sel = lambda rows: [{"id": r["id"], "audio": r["audio"], "text": r[text_col]} for r in rows]  # noqa: E731
    results = {"corpus": str(corpus_dir), "config": cfg.__dict__, "seen_speakers_allowed": allow_seen_speakers, "dropped_seen_speaker_test_items": dropped,
               "test_speakers": sorted({r["speaker"] for r in test_rows}), "models": {}, "skipped": []}
    for name, spec in codecs:
        read = _from_latent_set if is_latent_set(spec) else _encoded
        (ftr, ttr, _), (fte, tte, ids_te), meta, skipped = read(spec, sel(train_rows), sel(test_rows), device, name)
        results["skipped"] += [{"model": name, **s} for s in skipped]
        res = probe_features(ftr, ttr, fte, tte, cfg, ids_test=ids_te)
        results["models"][name] = {"spec": spec, **meta, "train_utts": len(ftr), "test_utts": len(fte), **res}
    results["paired"] = paired_probe_tests(results["models"])
    atomic_write_json(out_dir / "probe.json", results)
    atomic_write_text(out_dir / "probe.md", probe_report(results))
    manifest.add(PROBE_COMMAND, out_dir / "probe.json", out_dir / "probe.md")
    return results


def error_name(unit: str) -> str:
    """What the probe's error rate is called for ``unit``."""
    return "PER" if unit == "phoneme" else "CER"


def probe_verdicts(results: dict) -> list[str]:
    """One sentence per paired test of a ``run_probe`` result (:func:`probe_verdict`)."""
    name = error_name((results.get("config") or {}).get("unit", "char"))
    return [probe_verdict(t, name) for t in results.get("paired") or []]


def probe_report(results: dict) -> str:
    unit = results["config"]["unit"]
    name = error_name(unit)
    rows = [{"model": n, **m, name: m["error_rate"], f"{name} corpus": m["error_rate_corpus"]} for n, m in results["models"].items()]
    cols = ["model", "semantic", "latent_dim", "frame_rate", "train_utts", "test_utts", name, f"{name} corpus", "loss_first", "loss_last"]
    lines = ["# Linear CTC probe", "",
             f"Corpus `{results['corpus']}`; unit {unit}; {results['config']['steps']} Adam steps (lr {results['config']['lr']}); "
             f"{'test speakers (also in train: NOT held out)' if results.get('seen_speakers_allowed') else 'held-out test speakers'}: "
             f"{', '.join(map(str, results['test_speakers']))}"
             + (f" ({results['dropped_seen_speaker_test_items']} test items of seen speakers dropped)" if results["dropped_seen_speaker_test_items"] else ""),
             "", "Lower error = more linguistic content linearly readable from each frame.", "",
             markdown_table(rows, cols), ""]
    paired = results.get("paired") or []
    if paired:
        lines += ["Paired tests (same test utterances; diff = a − b in corpus-level "
                  f"{name}; two-sided sign-flip test over utterances; a difference counts when p < {SIGNIFICANT_P}):", "",
                  markdown_table([{**t, "diff": f"{t['diff']:+.4f}", "p": p_text(t["p"])[2:]} for t in paired],
                                 ["a", "b", "diff", "p", "n"]), "",
                  " ".join(probe_verdicts(results)), ""]
    for n, m in results["models"].items():
        lines += [f"Examples ({n}):", ""] + [f"- ref `{e['ref']}` / hyp `{e['hyp']}`" for e in m["examples"]] + [""]
    return "\n".join(lines)


def probe_verdict(test: dict, name: str = "CER") -> str:
    """One sentence on a paired probe test (:func:`eval.scoring.comparison_sentence`): a winner only
    when the test says so. The test covers the spread over test utterances only (one probe seed,
    one VAE per space), and says so."""
    stats = f"{test['a']} minus {test['b']} {test['diff']:+.3f}, {p_text(test['p'])}, {test['n']} utterances, one probe seed"
    result = outcome({"metric": "cer", **test})  # an error rate, whatever the unit
    return comparison_sentence(test["a"], test["b"], f"linear-probe {name}", result, stats) + "."
