"""The frame-rate VAE blocks (log-mel + ConvNeXt encoder, Vocos decoder) behind the same model API."""

import math

import pytest
import torch

from svae_tts.errors import ConfigError
from vae import SemanticVAE
from vae.config import load_preset

SMALL = ["encoder_out_dim=32", "latent_dim=8", "attn_heads=2", "spectral.encoder_intermediate_dim=48",
         "spectral.encoder_layers=2", "spectral.decoder_dim=32", "spectral.decoder_intermediate_dim=48",
         "spectral.decoder_layers=2", "spectral.mel_bins=40"]


def test_frames_and_lengths_match_the_release_contract():
    model = SemanticVAE.from_preset("tiny_spectral", SMALL).eval()
    assert (model.hop_length, model.frame_rate) == (400, 40.0)
    assert isinstance(model.encoder.backbone.convnext[0].dwconv, torch.nn.Conv1d)  # vocos' ConvNeXt blocks
    for n in (400, 401, 16000, 16123):
        wav = torch.randn(2, n, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            z, mu, logvar = model.encode(wav)
            out = model.decode(mu)
        frames = math.ceil(n / 400)
        assert z.shape == mu.shape == logvar.shape == (2, frames, 8)
        assert out.shape == (2, frames * 400) and torch.isfinite(out).all()
    # a longer input does not change the latents of the frames it shares with a shorter one far
    # from the end (a frame sees ~0.3 s around it, nothing more): encode is local in time
    wav = torch.randn(1, 32000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        long_mu = model.encode_stats(wav)[0]
        short_mu = model.encode_stats(wav[:, :24000])[0]
    assert torch.allclose(long_mu[:, :30], short_mu[:, :30], atol=1e-5)


def test_save_load_roundtrip_and_types_checked(tmp_path):
    model = SemanticVAE.from_preset("tiny_spectral", SMALL)
    model.save_pretrained(tmp_path / "m")
    back = SemanticVAE.from_pretrained(tmp_path / "m")
    assert (back.config.encoder_type, back.config.decoder_type) == ("mel", "vocos")
    wav = torch.randn(1, 4000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model.eval()(wav, torch.Generator().manual_seed(0))["audio"],
                           back(wav, torch.Generator().manual_seed(0))["audio"])
    with pytest.raises(ConfigError, match="encoder_type 'conv' is not one of waveform, mel"):
        load_preset("tiny_spectral", ["encoder_type=conv"])
    # the released architecture is unchanged: the waveform encoder and BigVGAN stay the defaults
    released = load_preset("semantic_vae")
    assert (released.encoder_type, released.decoder_type) == ("waveform", "bigvgan")


def test_it_learns_to_reconstruct():
    """A few Adam steps on a fixed clip lower the multi-resolution log-mel distance."""
    torch.manual_seed(0)
    model = SemanticVAE.from_preset("tiny_spectral", SMALL)
    t = torch.arange(8000) / 16000
    wav = (0.3 * torch.sin(2 * torch.pi * 220 * t) * torch.sin(2 * torch.pi * 3 * t)).unsqueeze(0)
    mel = model.encoder.features

    def loss_of(out):
        return (mel(out) - mel(wav)).abs().mean()

    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        out = model(wav, torch.Generator().manual_seed(0))["audio"]
        loss = loss_of(out)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses  # 7.9 -> 4.8 when written
