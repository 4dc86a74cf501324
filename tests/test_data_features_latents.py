"""Teacher features and VAE latents: frame counts, widths, padding, resume without duplicates."""

import math

import pytest
import soundfile as sf
import torch

from data_prep.espeak_corpus import build_espeak_corpus
from data_prep.errors import DataError
from data_prep.features import extract_features, load_teacher
from data_prep.latents import extract_latents
from svae_tts.formats.latent_set import load_latent_set, split_latents
from svae_tts.formats.shards import shard_files, shard_index
from svae_tts.formats.teacher_features import FeatureStore
from vae.model import PAD_MARGIN_SECONDS, SemanticVAE
from vae.teacher import OnlineTeacher


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "espeak"
    build_espeak_corpus(out, hours=1.0, voices=4, seed=5, max_utterances=8, min_words=3, max_words=6, test_size=0.25)
    return out


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    from tests.shared_fixtures import save_tiny_wavlm

    return save_tiny_wavlm(tmp_path_factory.mktemp("teacher") / "tiny_wavlm")


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    from vae import SemanticVAE

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("vae") / "tiny_vae"
    SemanticVAE.from_preset("tiny").save_pretrained(d)
    return d


def _crash_after(n, real, exc):
    """``real`` that raises ``exc`` from its (n+1)-th call on: an extraction interrupted midway."""
    calls = 0

    def flaky(*a, **k):
        nonlocal calls
        calls += 1
        if calls > n:
            raise exc("simulated crash")
        return real(*a, **k)

    return flaky


def _rows(corpus):
    from svae_tts.formats.corpus import load_corpus

    dd = load_corpus(corpus)
    return [r for split in dd.values() for r in split]


def test_features_frame_count_width_and_padding(corpus, teacher_dir, tmp_path):
    teacher = load_teacher(str(teacher_dir))
    assert teacher.frame_rate == 16000 / (5 * 4 * 4)  # from the config's conv strides
    out = extract_features(corpus, tmp_path / "f", str(teacher_dir), layer=-1, batch_size=4, shard_size=3)
    store = FeatureStore(out)
    assert store.width == 24 and store.frame_rate == teacher.frame_rate
    rows = _rows(corpus)
    assert len(store) == len(rows) and len(shard_files(out)) >= 3
    single = extract_features(corpus, tmp_path / "f1", str(teacher_dir), layer=-1, batch_size=1)
    single_store = FeatureStore(single)
    for r in rows:
        h = store.get(r["id"])
        n = sf.info(r["audio"]).frames
        assert h.shape[1] == 24
        # the frames the teacher itself makes from n samples (its conv arithmetic) ...
        assert h.shape[0] == int(teacher.model._get_feat_extract_output_lengths(torch.tensor(n)))
        # ... which is the duration times the frame rate, less the conv stack's receptive field
        assert abs(h.shape[0] - n / 16000 * store.frame_rate) <= 2
        # padding in a batch is masked: same features as the utterance alone
        torch.testing.assert_close(h, single_store.get(r["id"]), atol=2e-4, rtol=1e-3)
    assert rows[0]["id"] in store and "nope" not in store
    with pytest.raises(DataError, match="'nope'"):
        store.get("nope")
    # a different layer is a different feature set: refuse to mix it into this folder
    with pytest.raises(DataError, match="layer"):
        extract_features(corpus, out, str(teacher_dir), layer=1)


def test_features_resume_after_interruption(corpus, teacher_dir, tmp_path, monkeypatch):
    real = OnlineTeacher.encode_clips
    monkeypatch.setattr(OnlineTeacher, "encode_clips", _crash_after(2, real, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        extract_features(corpus, tmp_path / "f", str(teacher_dir), batch_size=2, shard_size=2)
    done = len(shard_index(tmp_path / "f"))
    assert 0 < done < len(_rows(corpus))
    monkeypatch.setattr(OnlineTeacher, "encode_clips", real)
    extract_features(corpus, tmp_path / "f", str(teacher_dir), batch_size=2, shard_size=2)
    keys = [k for f in shard_files(tmp_path / "f") for k in __import__("safetensors").safe_open(str(f), "pt").keys()]
    assert len(keys) == len(set(keys)) == len(_rows(corpus))


def test_latents_extract_stats_and_decode(corpus, vae_dir, tmp_path):
    out = extract_latents(corpus, tmp_path / "lat", str(vae_dir), batch_size=4)
    ls = load_latent_set(out)
    vae = SemanticVAE.from_pretrained(vae_dir).eval()
    assert ls.info["frame_rate"] == vae.frame_rate == 40 and ls.info["latent_dim"] == vae.latent_dim
    assert ls.info["vae"] == str(vae_dir)
    assert ls.mean.shape == ls.std.shape == (vae.latent_dim,) and (ls.std > 0).all()
    train = ls.dataset["train"].with_format("torch")
    assert len(ls.dataset["train"]) + len(ls.dataset["test"]) == len(_rows(corpus))
    frames = torch.cat([train[i]["latents"] for i in range(len(train))])
    torch.testing.assert_close(frames.mean(0), ls.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(frames.std(0, unbiased=False), ls.std, atol=1e-4, rtol=1e-3)
    row = min(ls.dataset["test"], key=lambda r: r["duration"])
    z = torch.tensor(row["latents"])
    wav, sr = sf.read(_audio_of(corpus, row["id"]), dtype="float32")
    assert z.shape == (math.ceil(len(wav) / vae.hop_length), vae.latent_dim)
    # the stored latent is the posterior mean of that utterance encoded alone (with the trailing
    # margin of zeros that makes latents independent of batch-mates)
    with torch.no_grad():
        x = torch.nn.functional.pad(torch.from_numpy(wav), (0, int(PAD_MARGIN_SECONDS * 16000)))
        _, mu, _ = vae.encode(x[None])
        torch.testing.assert_close(z, mu[0, : z.shape[0]], atol=1e-5, rtol=1e-4)
        # and away from the end it is what plain vae.encode gives
        _, mu_plain, _ = vae.encode(torch.from_numpy(wav)[None])
        torch.testing.assert_close(z[: z.shape[0] // 2], mu_plain[0, : z.shape[0] // 2], atol=1e-5, rtol=1e-4)
        back = vae.decode(z[None], length=len(wav))
    assert back.shape == (1, len(wav)) and torch.isfinite(back).all()
    assert row["text"] and row["speaker"] and row["phonemes"]
    assert ls.info["semantic"] is bool(vae.config.semantic)
    # the column reader gives the rows' latents as row-by-row conversion does, in row order, after a
    # reordering select and a contiguous one (a slice of the table) too, and nothing for an empty split
    for split in (ls.dataset["train"], ls.dataset["train"].select([2, 0, 1]), ls.dataset["train"].select(range(1, 3)),
                  ls.dataset["test"].select([])):
        fast = split_latents(split, vae.latent_dim)
        slow = [torch.tensor(r["latents"]) for r in split]
        assert len(fast) == len(slow) and all(torch.equal(a, b) for a, b in zip(fast, slow))
    # a complete set is not redone
    extract_latents(corpus, out, str(vae_dir))
    assert load_latent_set(out).info == ls.info


def _audio_of(corpus, uid):
    return next(r["audio"] for r in _rows(corpus) if r["id"] == uid)


def test_latents_resume_equals_uninterrupted(corpus, vae_dir, tmp_path, monkeypatch):
    full = load_latent_set(extract_latents(corpus, tmp_path / "full", str(vae_dir), batch_size=2))
    real = SemanticVAE.encode_clips
    # interrupted (a failing item would only be skipped and reported: see test_batch_boundaries)
    monkeypatch.setattr(SemanticVAE, "encode_clips", _crash_after(2, real, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        extract_latents(corpus, tmp_path / "res", str(vae_dir), batch_size=2, shard_size=2)
    with pytest.raises(DataError, match="not a complete latent set"):
        load_latent_set(tmp_path / "res")
    partial = len(shard_index(tmp_path / "res" / "shards"))
    assert 0 < partial < len(_rows(corpus))
    monkeypatch.setattr(SemanticVAE, "encode_clips", real)
    resumed = load_latent_set(extract_latents(corpus, tmp_path / "res", str(vae_dir), batch_size=2, shard_size=2))
    for split in ("train", "test"):
        a, b = full.dataset[split], resumed.dataset[split]
        assert list(a["id"]) == list(b["id"]) and len(set(b["id"])) == len(b)
        for x, y in zip(a["latents"], b["latents"]):
            torch.testing.assert_close(torch.tensor(x), torch.tensor(y))
    torch.testing.assert_close(full.mean, resumed.mean)


@pytest.mark.parametrize("with_preprocessor", [True, False])
def test_precomputed_features_equal_the_online_teacher(corpus, teacher_dir, tmp_path, with_preprocessor):
    """Training with teacher.features=DIR must see what the online teacher would compute itself,
    also for a teacher whose only settings are in config.json (no preprocessor_config.json)."""
    import shutil

    from transformers import AutoConfig

    from svae_tts.audio import load_audio

    if not with_preprocessor:
        bare = tmp_path / "bare_teacher"
        shutil.copytree(teacher_dir, bare)
        (bare / "preprocessor_config.json").unlink()
        cfg = AutoConfig.from_pretrained(bare)
        cfg.sampling_rate = 16000
        cfg.save_pretrained(bare)
        teacher_dir = bare
    out = extract_features(corpus, tmp_path / "f", str(teacher_dir), layer=1, batch_size=2)
    store = FeatureStore(out)
    online = OnlineTeacher(teacher_dir, layer=1)
    r = _rows(corpus)[0]
    wav, sr = load_audio(r["audio"])
    feats, n = online(wav[None], torch.tensor([wav.numel()]), sr)
    torch.testing.assert_close(store.get(r["id"]), feats[0, : int(n[0])], atol=2e-4, rtol=1e-3)
