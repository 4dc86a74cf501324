from pathlib import Path

import pytest
import torch

from eval.errors import EvalError
from eval.probe import ProbeConfig, Vocab, probe_features, tokenize

TEXTS = ["the cat sat", "a bird is here", "we ride at dawn", "she sells shells", "lost and found", "red roses",
         "time will tell", "the wind blows", "sea and sand", "hello there"]



def _frames(text: str, dim: int, g: torch.Generator, informative: bool) -> torch.Tensor:
    """Each symbol held for 3 frames. Informative: a fixed random code per symbol + noise; else pure noise."""
    codes = torch.randn(64, dim, generator=torch.Generator().manual_seed(123))
    syms = tokenize(text, "char")
    rows = []
    for s in syms:
        base = codes[ord(s) % 64] if informative else torch.zeros(dim)
        rows += [base + 0.1 * torch.randn(dim, generator=g) for _ in range(3)]
    return torch.stack(rows) if informative else torch.randn(len(rows), dim, generator=g)


@pytest.mark.parametrize("informative", [True, False])
def test_linear_probe_reads_linearly_encoded_content_only(informative):
    g = torch.Generator().manual_seed(0)
    tr = [(_frames(t, 16, g, informative), t) for t in TEXTS * 3]
    te = [(_frames(t, 16, g, informative), t) for t in TEXTS[:4]]
    res = probe_features([f for f, _ in tr], [t for _, t in tr], [f for f, _ in te], [t for _, t in te],
                         ProbeConfig(steps=100, lr=5e-2))
    assert res["loss_last"] < res["loss_first"]
    if informative:
        assert res["error_rate"] < 0.1
    else:
        assert res["error_rate"] > 0.6


def test_tokenize_units():
    assert tokenize("Hi, you!", "char") == list("hi|you")
    assert tokenize("hˈaɪ ju", "phoneme") == ["h", "a", "ɪ", "|", "j", "u"]
    with pytest.raises(EvalError, match="unknown probe unit"):
        tokenize("x", "word")


def test_run_probe_compares_vaes_on_held_out_speakers(tmp_path):
    from eval.probe import run_probe
    from tests.eval_helpers import tiny_corpus, tiny_vae_dir

    corpus = tiny_corpus(tmp_path, per_speaker=2, seconds=1.0)
    a = tiny_vae_dir(tmp_path / "semantic", semantic=True, seed=0)
    b = tiny_vae_dir(tmp_path / "acoustic", semantic=False, seed=1)
    # one spec as a Path (what a trainer's result holds): it must not break probe.json at the end
    res = run_probe([("semantic", Path(a)), ("acoustic", str(b))], corpus, tmp_path / "probe", ProbeConfig(steps=10))
    assert set(res["models"]) == {"semantic", "acoustic"}
    assert res["models"]["semantic"]["semantic"] is True and res["models"]["acoustic"]["semantic"] is False
    assert res["test_speakers"] == ["s2", "s3"]
    for m in res["models"].values():
        _assert_rates_follow_from_the_pairs(m, items=4)  # 2 held-out speakers x 2 utterances
    md = (tmp_path / "probe" / "probe.md").read_text()
    assert "| semantic |" in md and "| acoustic |" in md
    with pytest.raises(Exception, match="already exists"):
        run_probe([("semantic", str(a))], corpus, tmp_path / "probe", ProbeConfig(steps=2))


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions), worked out here, not by jiwer."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def _assert_rates_follow_from_the_pairs(m: dict, items: int) -> None:
    """A probe's error rates are those of its own transcripts: each shown (ref, hyp) pair's edit
    distance and length are its item's counts, and the mean and corpus rates follow from the counts."""
    assert len(m["items"]) == items and len(m["examples"]) == min(3, items)
    for item, ex in zip(m["items"], m["examples"]):
        ref, hyp = list(ex["ref"].replace(" ", "|")), list(ex["hyp"].replace(" ", "|"))
        assert (item["c_err"], item["c_n"]) == (_edit_distance(ref, hyp), len(ref)), (item, ex)
    rates = [i["c_err"] / i["c_n"] for i in m["items"]]
    assert m["error_rate"] == pytest.approx(sum(rates) / len(rates))
    assert m["error_rate_corpus"] == pytest.approx(sum(i["c_err"] for i in m["items"]) / sum(i["c_n"] for i in m["items"]))


def test_probe_reads_a_latent_set_as_its_vae_encodes(tmp_path):
    """A latent set is probed as stored (no encoding): the same features, so the same probe, as its VAE."""
    from data_prep.latents import extract_latents
    from eval.probe import run_probe
    from tests.eval_helpers import tiny_corpus, tiny_vae_dir

    corpus = tiny_corpus(tmp_path, per_speaker=2, seconds=1.0)
    vae = tiny_vae_dir(tmp_path / "vae", semantic=False, seed=3)
    latents = extract_latents(corpus, tmp_path / "lat", vae=str(vae))
    cfg = ProbeConfig(steps=15)
    by_vae = run_probe([("m", vae)], corpus, tmp_path / "p_vae", cfg)["models"]["m"]
    by_set = run_probe([("m", latents)], corpus, tmp_path / "p_set", cfg)["models"]["m"]
    assert by_set["kind"] == "latent_set" and by_set["semantic"] is False
    assert (by_set["latent_dim"], by_set["frame_rate"], by_set["train_utts"], by_set["test_utts"]) == \
        (by_vae["latent_dim"], by_vae["frame_rate"], by_vae["train_utts"], by_vae["test_utts"])
    assert by_set["items"] == by_vae["items"]
    assert by_set["loss_last"] == pytest.approx(by_vae["loss_last"], rel=1e-4)
    # a set of another corpus holds none of these utterances: refused, naming the set
    other = tiny_corpus(tmp_path / "other", train_speakers=("s7",), test_speakers=("s8",), per_speaker=2)
    with pytest.raises(EvalError, match="latent set .*lat.*another corpus"):
        run_probe([("m", latents)], other, tmp_path / "p_other", cfg)



def test_probe_skips_rows_a_latent_set_lacks_and_finds_whether_an_older_set_was_aligned(tmp_path):
    """A set missing some of the corpus' rows: those are skipped and reported, the rest probed. A set
    written before ``latent_info.json`` recorded ``semantic`` takes it from its VAE's config, and says
    nothing (None) when that VAE is gone."""
    from data_prep.latents import extract_latents
    from eval.probe import _latent_set_semantic, run_probe
    from svae_tts.formats.latent_set import load_latent_set, split_latents, write_latent_set
    from tests.eval_helpers import tiny_corpus, tiny_vae_dir

    corpus = tiny_corpus(tmp_path, per_speaker=2, seconds=1.0)
    vae = tiny_vae_dir(tmp_path / "vae", semantic=True, seed=4)
    full = load_latent_set(extract_latents(corpus, tmp_path / "lat", vae=str(vae)))
    stored, rows = {}, []
    for split, ds in full.dataset.items():
        stored.update(zip(ds["id"], split_latents(ds, full.latent_dim)))
        rows += [{**r, "split": split} for r in ds.remove_columns("latents")]
    dropped = {"s0_1", "s3_0"}  # one training and one test utterance
    info = {k: v for k, v in full.info.items() if k not in ("semantic", "frames", "splits")}
    write_latent_set(tmp_path / "part", [r for r in rows if r["id"] not in dropped], stored.__getitem__, info)
    res = run_probe([("part", tmp_path / "part")], corpus, tmp_path / "p", ProbeConfig(steps=5))
    assert {s["id"] for s in res["skipped"]} == dropped
    assert all(s["model"] == "part" and "not in the latent set" in s["reason"] for s in res["skipped"])
    m = res["models"]["part"]
    assert (m["train_utts"], m["test_utts"]) == (3, 3) and m["semantic"] is True  # from the VAE's config
    assert _latent_set_semantic({"vae": str(tmp_path / "gone")}) is None


def test_probe_refuses_without_held_out_speakers(tmp_path):
    from eval.probe import run_probe
    from tests.eval_helpers import tiny_corpus, tiny_vae_dir

    corpus = tiny_corpus(tmp_path, train_speakers=("s2",), test_speakers=("s2",), per_speaker=2)
    vae = tiny_vae_dir(tmp_path / "vae")
    with pytest.raises(EvalError, match="no held-out speakers.*allow-seen-speakers"):
        run_probe([("v", str(vae))], corpus, tmp_path / "p", ProbeConfig(steps=2))
    res = run_probe([("v", str(vae))], corpus, tmp_path / "p", ProbeConfig(steps=2), allow_seen_speakers=True)
    assert "NOT held out" in (tmp_path / "p" / "probe.md").read_text() and res["models"]["v"]["test_utts"] == 2


def test_probe_decoding_hand_worked():
    """Blank = 0; repeats merge unless a blank separates them; '|' is kept as a symbol, once per boundary."""
    vocab = Vocab([list("ab|c")])
    assert vocab.index == {"a": 1, "b": 2, "c": 3, "|": 4} and len(vocab) == 5
    best = [1, 1, 0, 1, 2, 4, 0, 4, 3, 3, 0]  # a a _ a b | _ | c c _
    logits = torch.nn.functional.one_hot(torch.tensor(best), len(vocab)).float()
    assert vocab.decode(logits) == ["a", "a", "b", "|", "c"]
    assert vocab.encode(["a", "x", "c"]) == [1, 3]  # an unseen test symbol is left out


def test_paired_probe_test_names_a_winner_only_when_significant():
    from eval.probe import paired_probe_tests, probe_verdict

    g = torch.Generator().manual_seed(0)
    cfg = ProbeConfig(steps=100, lr=5e-2)
    train = {k: [(_frames(t, 16, g, k), t) for t in TEXTS * 3] for k in (True, False)}
    test = {k: [(_frames(t, 16, g, k), t) for t in TEXTS] for k in (True, False)}
    ids = [f"u{i}" for i in range(len(TEXTS))]
    res = {k: probe_features([f for f, _ in train[k]], [t for _, t in train[k]], [f for f, _ in test[k]],
                             [t for _, t in test[k]], cfg, ids_test=ids) for k in (True, False)}
    assert [i["id"] for i in res[True]["items"]] == ids
    # listed acoustic first: the semantic space is still put first, so diff < 0 means it reads better
    (t,) = paired_probe_tests({"acoustic": {"semantic": False, **res[False]}, "semantic": {"semantic": True, **res[True]}})
    assert (t["a"], t["b"], t["n"]) == ("semantic", "acoustic", len(TEXTS))
    assert t["diff"] < -0.5 and t["p"] < 0.01
    assert probe_verdict(t).startswith(f"semantic is better than acoustic on linear-probe CER (semantic minus acoustic "
                                       f"{t['diff']:+.3f}, p ")
    (same,) = paired_probe_tests({"x": {"semantic": True, **res[True]}, "y": {"semantic": False, **res[True]}})
    assert same["diff"] == 0 and same["p"] == 1.0
    assert probe_verdict(same) == ("no difference shown between x and y on linear-probe CER (x minus y +0.000, "
                                   f"p 1.0000, {len(TEXTS)} utterances, one probe seed).")
    # the error's name follows the probe's unit, in the probe report and the demo's verdict alike
    from eval.probe import probe_verdicts

    assert probe_verdicts({"config": {"unit": "phoneme"}, "paired": [t]}) == [probe_verdict(t, "PER")]
    assert "linear-probe PER" in probe_verdicts({"config": {"unit": "phoneme"}, "paired": [same]})[0]
    assert "linear-probe CER" in probe_verdicts({"config": {"unit": "char"}, "paired": [same]})[0]
    assert probe_verdicts({"paired": [same]}) == [probe_verdict(same, "CER")]  # a result without its config
    assert probe_verdicts({}) == []


def test_p_at_the_tests_floor_is_written_as_a_bound():
    from eval.scoring import PERMUTATIONS, p_text

    assert p_text(1 / (1 + PERMUTATIONS)) == "p ≤ 0.0005"
    assert p_text(0.0015) == "p 0.0015"
    assert p_text(0.01, permutations=99) == "p ≤ 0.0100"
