"""``data latents --padding release``: the release's encode (and its seeded sample) in a latent set,
recorded in the set's info, and never mixed with a set made with the default margin."""

import pytest
import torch

from data_prep.errors import DataError
from data_prep.espeak_corpus import build_espeak_corpus
from data_prep.latents import extract_latents
from svae_tts.audio import load_audio
from svae_tts.cli import main as cli_main
from svae_tts.formats.corpus import corpus_rows
from svae_tts.formats.latent_set import load_latent_set
from tests.test_vae_release_encode import release_reference
from vae.model import SemanticVAE


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "espeak"
    build_espeak_corpus(out, hours=1.0, voices=3, seed=2, max_utterances=6, min_words=3, max_words=6, test_size=0.25)
    return out


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(1)
    vae = SemanticVAE.from_preset("tiny")
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    d = tmp_path_factory.mktemp("vae") / "tiny_vae"
    vae.save_pretrained(d)
    return d


def _stored(latent_set) -> dict[str, torch.Tensor]:
    return {r["id"]: torch.tensor(r["latents"]) for split in latent_set.dataset.values() for r in split}


def _expected(corpus, vae_dir, sample: bool, processes: int = 1) -> dict[str, torch.Tensor]:
    """The release's procedure on every utterance, each ``(T, D)``: process ``rank`` takes every
    ``processes``-th utterance of the corpus (as the script's DistributedSampler does), encodes its share
    in this job's order (by length) and draws from torch's RNG seeded ``42 * processes + rank``."""
    vae = SemanticVAE.from_pretrained(vae_dir).eval()
    out = {}
    for rank in range(processes):
        rows = sorted(corpus_rows(corpus)[rank::processes], key=lambda r: (r["duration"], r["id"]))
        wavs = [load_audio(r["audio"], vae.sample_rate)[0] for r in rows]
        zs = release_reference(vae, wavs, sample, seed=42 * processes + rank)
        out.update((r["id"], z[0].T) for r, z in zip(rows, zs))
    return out


@pytest.mark.parametrize("sample", [False, True])
def test_release_padding_set_is_the_release_procedure(corpus, vae_dir, tmp_path, sample):
    out = extract_latents(corpus, tmp_path / "lat", str(vae_dir), batch_size=3, sample=sample, padding="release")
    ls = load_latent_set(out)
    want = _expected(corpus, vae_dir, sample)
    got = _stored(ls)
    assert got.keys() == want.keys()
    assert max((got[k] - want[k]).abs().max().item() for k in want) <= 1e-6
    made = {k: ls.info.get(k) for k in ("padding", "posterior", "noise", "seed", "processes")}
    assert made == ({"padding": "release", "posterior": "sample", "noise": "release", "seed": 42, "processes": 1}
                    if sample else {"padding": "release", "posterior": "mean", "noise": None, "seed": None,
                                    "processes": None})


def test_default_margin_set_differs_and_the_two_are_not_mixed(corpus, vae_dir, tmp_path, capsys):
    out = tmp_path / "lat"
    ls = load_latent_set(extract_latents(corpus, out, str(vae_dir), batch_size=3))
    assert ls.info["padding"] == "margin" and ls.info["posterior"] == "mean" and "noise" not in ls.info
    margin, release = _stored(ls), _expected(corpus, vae_dir, sample=False)
    assert all((margin[k][-1] - release[k][-1]).abs().max() > 1e-3 for k in release)  # the last frames differ
    # asking the folder for the other padding is refused (before any work), on the command line as one line
    with pytest.raises(DataError, match=r"padding=margin, posterior=mean, not padding=release, posterior=mean"):
        extract_latents(corpus, out, str(vae_dir), padding="release")
    args = ["data", "latents", "--corpus", str(corpus), "--model", str(vae_dir), "--out", str(out)]
    capsys.readouterr()  # the extraction's progress bars
    assert cli_main([*args, "--padding", "release"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(out) in err and "padding=release" in err
    assert cli_main([*args, "--sample"]) == 2  # a sampled set is not the mean either
    assert "posterior=sample" in capsys.readouterr().err
    assert load_latent_set(out).info == ls.info  # the set is untouched
    # with --overwrite it is remade the asked way
    assert cli_main([*args, "--padding", "release", "--overwrite"]) == 0
    assert load_latent_set(out).info["padding"] == "release"


def test_unknown_padding_is_refused_before_any_work(corpus, vae_dir, tmp_path, capsys):
    with pytest.raises(DataError, match="'hop'"):
        extract_latents(corpus, tmp_path / "x", str(vae_dir), padding="hop")
    assert not (tmp_path / "x").exists()
    assert cli_main(["data", "latents", "--corpus", str(corpus), "--model", str(vae_dir), "--out", str(tmp_path / "y"),
                     "--padding", "hop"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--padding" in err and "'hop'" in err and not (tmp_path / "y").exists()


def test_release_samples_in_two_processes_are_seeded_per_rank(corpus, vae_dir, tmp_path):
    """Two gloo processes on the CPU: each rank's stream is seeded ``42 * 2 + rank``, as the script's."""
    from tests.test_distributed_extraction import launch_two

    out = tmp_path / "two"
    launch_two("data", "latents", "--corpus", str(corpus), "--model", str(vae_dir), "--out", str(out),
               "--batch-size", "2", "--padding", "release", "--sample", "--keep-shards")
    assert {p.name[:10] for p in (out / "shards").glob("shard-*.safetensors")} == {"shard-r000", "shard-r001"}
    ls = load_latent_set(out)
    assert ls.info["processes"] == 2 and ls.info["seed"] == 42 and ls.info["noise"] == "release"
    want, got = _expected(corpus, vae_dir, sample=True, processes=2), _stored(ls)
    assert got.keys() == want.keys()
    assert max((got[k] - want[k]).abs().max().item() for k in want) <= 1e-6
    # one stream for both ranks' utterances (the one-process seeding) would have given other samples
    one = _expected(corpus, vae_dir, sample=True)
    assert any((got[k] - one[k]).abs().max() > 1e-2 for k in want)


def test_a_tts_on_release_padded_latents_encodes_its_prompts_the_same_way(corpus, vae_dir, tmp_path):
    """The feature space of a release-padded set encodes synthesis prompts with the release's padding
    (and says so in the config an export keeps), so a prompt ends like the training latents; a set
    made with the default margin, and an old config without the key, keep the margin."""
    from tts_recipes.feature_space import FeatureSpace, LatentFeatureSpace

    release = extract_latents(corpus, tmp_path / "release", str(vae_dir), batch_size=3, padding="release")
    margin = extract_latents(corpus, tmp_path / "margin", str(vae_dir), batch_size=3)
    spaces = {name: LatentFeatureSpace.from_latent_set(d, load_latent_set(d)) for name, d in
              (("release", release), ("margin", margin))}
    assert {name: s.padding for name, s in spaces.items()} == {"release": "release", "margin": "margin"}
    wav = load_audio(corpus_rows(corpus)[0]["audio"], 16000)[0][:5000]  # not a multiple of the hop
    vae = spaces["release"].vae
    for name, space in spaces.items():
        want = space.normalize(vae.encode_clips([wav], padding=name)[0])
        assert torch.equal(space.encode(wav)[0], want)
        again = FeatureSpace.from_config(space.to_config())
        assert again.padding == name and torch.equal(again.encode(wav)[0], want)
    assert not torch.allclose(spaces["release"].encode(wav), spaces["margin"].encode(wav), atol=1e-4)
    old = {k: v for k, v in spaces["release"].to_config().items() if k != "padding"}
    assert FeatureSpace.from_config(old).padding == "margin"


def test_a_feature_config_with_an_unknown_padding_is_one_line_naming_it(corpus, vae_dir, tmp_path):
    from tts_recipes.errors import TTSError
    from tts_recipes.feature_space import FeatureSpace, LatentFeatureSpace

    d = extract_latents(corpus, tmp_path / "lat", str(vae_dir), batch_size=3)
    cfg = {**LatentFeatureSpace.from_latent_set(d, load_latent_set(d)).to_config(), "padding": "center"}
    with pytest.raises(TTSError, match="latent padding must be one of margin, release, got 'center'") as info:
        FeatureSpace.from_config(cfg, source="model dir m")
    assert str(info.value).startswith("model dir m: ") and "\n" not in str(info.value)
