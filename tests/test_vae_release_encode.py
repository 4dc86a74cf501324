"""The release's encode (``padding="release"``) against the release's own procedure, and the project's
default margin padding against it.

The reference is written out here from the release's ``scripts/extract_latent.py`` and its
``DAC.preprocess``/``encode``/``reparameterize`` on the same modules (the model is the release's,
key for key: ``tests/test_vae_model.py``), without going through ``encode_clips`` or ``encode_stats``:
right-pad to a multiple of the hop, encoder -> attention projection -> ``fc_mu``/``fc_var`` with the
log-variance clamped to +-12, and with torch's global RNG seeded ``global_seed * world_size + rank``,
one draw inside ``encode`` (dropped) and the kept one after it, file after file.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from vae.model import SemanticVAE, VAEError

SEED, WORLD, RANK = 42, 1, 0  # the release script's defaults on one GPU


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(3)
    vae = SemanticVAE.from_preset("tiny").eval()
    with torch.no_grad():  # off the init, so no layer is an identity and the log-variances vary
        for p in vae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return vae


@pytest.fixture(scope="module")
def clips(tiny):
    g = torch.Generator().manual_seed(0)
    hop = tiny.hop_length
    # not a multiple of the hop, exactly one, and shorter than one frame
    return [0.1 * torch.randn(n, generator=g) for n in (7 * hop + 123, 12 * hop, hop - 5, 40 * hop + 1)]


def release_reference(vae: SemanticVAE, wavs: list[torch.Tensor], sample: bool,
                      seed: int = SEED * WORLD + RANK) -> list[torch.Tensor]:
    """What the release's extraction does with these clips in one process whose global RNG it seeds
    with ``seed``, each ``(1, D, T)`` as its ``.npy``."""
    hop = vae.hop_length
    out = []
    if sample:
        torch.manual_seed(seed)
    with torch.no_grad():
        for w in wavs:
            x = w.reshape(1, 1, -1)
            x = F.pad(x, (0, math.ceil(x.shape[-1] / hop) * hop - x.shape[-1]))  # DAC.preprocess
            h = vae.pre_block(vae.encoder(x).transpose(1, 2))
            mu, log_var = vae.fc_mu(h), torch.clamp(vae.fc_var(h), min=-12, max=12)
            z = mu
            if sample:
                std = torch.exp(0.5 * log_var)
                torch.randn_like(std)  # DAC.encode's own z_hat, not kept
                z = torch.randn_like(std) * std + mu  # the script's reparameterize, kept
            out.append(z.transpose(1, 2))
    return out


def test_release_padding_is_the_release_encode(tiny, clips):
    want = release_reference(tiny, clips, sample=False)
    got = tiny.encode_clips(clips, padding="release")
    for w, z, g in zip(clips, want, got):
        assert g.shape == (math.ceil(w.numel() / tiny.hop_length), tiny.latent_dim)
        assert (g.T[None] - z).abs().max().item() <= 1e-6


def test_release_sample_is_the_scripts_seeded_sample_and_leaves_the_global_rng_alone(tiny, clips):
    want = release_reference(tiny, clips, sample=True)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    got = tiny.encode_clips(clips, sample=True, generator=torch.Generator().manual_seed(SEED * WORLD + RANK),
                            padding="release")
    assert torch.equal(torch.random.get_rng_state(), state)
    for z, g in zip(want, got):
        assert (g.T[None] - z).abs().max().item() <= 1e-6
    # the sample is not the mean
    means = tiny.encode_clips(clips, padding="release")
    assert all((g - m).abs().max() > 1e-2 for g, m in zip(got, means))
    # a clip's sample depends on those before it, as in the script: the stream is per process, not per clip
    alone = tiny.encode_clips(clips[1:2], sample=True, generator=torch.Generator().manual_seed(SEED), padding="release")
    assert not torch.allclose(alone[0], got[1])


def test_the_default_margin_differs_from_the_release_in_the_last_frames_only(tiny, clips):
    release = tiny.encode_clips(clips, padding="release")
    margin = tiny.encode_clips(clips)  # the default: batched, with the 0.5 s margin
    for r, m in zip(release, margin):
        assert r.shape == m.shape
        assert (r[-1] - m[-1]).abs().max() > 1e-3  # not a no-op: the ends differ ...
    r, m = release[-1], margin[-1]
    # ... and only the ends: frames more than the encoder's reach (~0.3 s, 12 frames) from the end agree
    torch.testing.assert_close(r[:-12], m[:-12], atol=1e-5, rtol=1e-4)
    # the release's encode is per clip: batching does not change it either
    for a, b in zip(release, [tiny.encode_clips([c], padding="release")[0] for c in clips]):
        assert torch.equal(a, b)


def test_unknown_padding_is_refused(tiny, clips):
    with pytest.raises(VAEError, match="padding must be one of margin, release, got 'hop'"):
        tiny.encode_clips(clips, padding="hop")


def test_vae_encode_release_npy_files_are_the_scripts(tiny, tmp_path, capsys):
    """``vae encode --padding release --sample --npy``: the release script's files, ``(1, D, T)`` per
    input at its relative path, sampled from one stream seeded 42 file after file (sorted paths)."""
    import numpy as np
    import soundfile as sf

    from svae_tts.audio import load_audio
    from svae_tts.cli import main as cli_main
    from vae.file_jobs import load_latents

    model = tmp_path / "model"
    tiny.save_pretrained(model)
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    sf.write(audio / "a.wav", (0.1 * rng.standard_normal(9 * 400 + 37)).astype("float32"), 16000)
    sf.write(audio / "sub" / "b.wav", (0.1 * rng.standard_normal(11025)).astype("float32"), 22050)
    args = ["vae", "encode", str(audio), "-m", str(model), "--no-progress"]
    assert cli_main([*args, "-o", str(tmp_path / "npy"), "--padding", "release", "--sample", "--npy"]) == 0
    files = [audio / "a.wav", audio / "sub" / "b.wav"]
    want = release_reference(tiny, [load_audio(f, tiny.sample_rate)[0] for f in files], sample=True)
    for rel, z in zip(("a.npy", "sub/b.npy"), want):
        got = np.load(tmp_path / "npy" / rel)
        assert got.dtype == np.float32 and got.shape == tuple(z.shape) and got.shape[1] == tiny.latent_dim
        assert np.abs(got - z.numpy()).max() <= 1e-6
    # the default: safetensors (T, D) with the margin, which records its padding and differs at the end
    assert cli_main([*args, "-o", str(tmp_path / "st")]) == 0
    latents, meta = load_latents(tmp_path / "st" / "a.safetensors")
    mean = release_reference(tiny, [load_audio(files[0], tiny.sample_rate)[0]], sample=False)[0][0].T
    assert meta["padding"] == "margin" and latents.shape == mean.shape
    assert (latents[-1] - mean[-1]).abs().max() > 1e-3
    capsys.readouterr()
    assert cli_main([*args, "-o", str(tmp_path / "bad"), "--padding", "hop"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--padding" in err and "'hop'" in err and not (tmp_path / "bad").exists()
