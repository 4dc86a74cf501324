"""The inference copy of the decoder (``vae.fast_decode``) gives the BigVGAN's own waveform to float
rounding in fp32, on the released architecture as on the tiny one and on signals shorter than its
filters; inference decodes use it (fp32 on CPU, bf16 anywhere), never go stale when weights change,
and training decodes run the original modules."""

import pytest
import torch

from vae import SemanticVAE
from vae.fast_decode import PolyphaseActivation1d, _zero_padded_depthwise, edge_corrections, inference_decoder
from vae.load import load_vae

TOL = 1e-5  # fp32; measured ~2e-7 of a ~0.3 peak


def _perturbed(preset: str, seed: int = 0) -> SemanticVAE:
    """Random weights with every parameter (snake alphas/betas, weight-norm magnitudes) moved off its
    init, so no term of the activation or the folding is trivially 0 or 1."""
    torch.manual_seed(seed)
    vae = SemanticVAE.from_preset(preset).eval()
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return vae


@pytest.mark.parametrize("length", [1, 2, 3, 5, 33])
def test_polyphase_activation_equals_bigvgan(length):
    from bigvgan.activations import SnakeBeta
    from bigvgan.alias_free_activation.torch.act import Activation1d

    torch.manual_seed(length)
    act = SnakeBeta(6, alpha_logscale=True)
    with torch.no_grad():
        act.alpha.normal_(0, 0.5)
        act.beta.normal_(0, 0.5)
    ref = Activation1d(activation=act)
    fast = PolyphaseActivation1d(ref)
    x = torch.randn(3, 6, length) + 2.0  # off zero, so a missing edge correction shows
    with torch.no_grad():
        out = fast(x.unsqueeze(2).contiguous(memory_format=torch.channels_last))[:, :, 0]
        assert torch.allclose(out, ref(x), atol=1e-5, rtol=0)


def test_edge_corrections_are_the_replicate_pads_share():
    """Zero-padded correlation + corrections == replicate-padded correlation, checked directly."""
    torch.manual_seed(0)
    taps, left, right = torch.randn(7), 2, 4
    x = torch.randn(9)
    want = torch.stack([(torch.cat([x[:1].repeat(left), x, x[-1:].repeat(right)])[m: m + 7] * taps).sum()
                        for m in range(9)])
    zero = torch.stack([(torch.cat([x.new_zeros(left), x, x.new_zeros(right)])[m: m + 7] * taps).sum()
                        for m in range(9)])
    cl, cr = edge_corrections(taps, left, right)
    zero[:left] += x[0] * cl
    zero[-right:] += x[-1] * cr
    assert torch.allclose(zero, want, atol=1e-6)
    with pytest.raises(ValueError, match="7 taps"):
        edge_corrections(taps, 3, 4)


@pytest.mark.parametrize("preset,frames", [("tiny", [1, 4, 29]), ("semantic_vae", [3])])
def test_inference_decoder_equals_eager(preset, frames):
    vae = _perturbed(preset)
    fast = inference_decoder(vae.decoder)
    assert not any(isinstance(m, type(vae.decoder.resblocks[0].activations[0])) for m in fast.modules())
    for t in frames:
        z = torch.randn(2, vae.latent_dim, t)
        with torch.no_grad():
            ref, out = vae.decoder(z), fast(z)
        assert out.shape == ref.shape
        assert (out - ref).abs().max() <= TOL * max(1.0, ref.abs().max().item())


BF16_TOL = 0.1  # of the waveform's peak: bf16 rounding (~3 % with these perturbed weights); another waveform is ~77 %


def _close_in_bf16(out: torch.Tensor, ref: torch.Tensor) -> bool:
    return (out - ref).abs().max().item() <= BF16_TOL * ref.abs().max().item()


def test_bf16_decode_copy_follows_weight_changes_and_gradients():
    vae = _perturbed("tiny").set_decode_dtype("bfloat16")
    other = _perturbed("tiny", seed=1)  # float32, the decoder's own modules
    z = torch.randn(1, 12, vae.latent_dim)
    with torch.no_grad():
        before = vae.decode(z)
        vae.load_state_dict(other.state_dict())  # new weights: the cached copy must be rebuilt
        after, want = vae.decode(z), other.decode(z)
    assert not _close_in_bf16(before, want)
    assert _close_in_bf16(after, want)
    # a write through .data bumps no version counter (ema_pytorch updates this way): still seen
    with torch.no_grad():
        for p in vae.decoder.parameters():
            p.data.mul_(0.5)
        other.load_state_dict(vae.state_dict())
        assert _close_in_bf16(vae.decode(z), other.decode(z)) and not _close_in_bf16(vae.decode(z), want)
    # with gradients the original modules run (the copy's weights are frozen) and gradients flow
    zz = z.clone().requires_grad_(True)
    vae.decode(zz).pow(2).sum().backward()
    assert zz.grad is not None and zz.grad.abs().sum() > 0
    assert any(p.grad is not None for p in vae.decoder.parameters())


def test_fp32_decode_copy_follows_in_place_changes_of_the_filter_buffers():
    """The anti-aliasing filters are buffers, not parameters: changing one in place (a version bump)
    or through ``.data`` (none) must rebuild the copy, whose polyphase taps are made from them."""
    from bigvgan.alias_free_activation.torch.act import Activation1d

    vae = _perturbed("tiny")
    z = torch.randn(1, 9, vae.latent_dim)
    acts = [m for m in vae.decoder.modules() if isinstance(m, Activation1d)]
    assert acts
    with torch.no_grad():
        before = vae.decode(z)  # builds and caches the copy
        for step, change in enumerate((lambda f: f.mul_(0.5), lambda f: f.data.add_(0.05))):
            for act in acts:
                change(act.upsample.filter)
                change(act.downsample.lowpass.filter)
            want = vae.decoder(z.transpose(1, 2))[:, 0]  # the decoder's own modules, new filters
            got = vae.decode(z)
            assert (want - before).abs().max() > 0.05, step  # the change matters ...
            assert torch.allclose(got, want, atol=TOL, rtol=0), step  # ... and the copy follows it
            before = got
        # swapping a buffer for a new tensor with the same values keeps the output (a rebuild, same numbers)
        acts[0].upsample.filter = acts[0].upsample.filter.clone()
        assert torch.allclose(vae.decode(z), before, atol=TOL, rtol=0)


def test_the_decode_copy_changes_no_saved_weights_and_fp32_cpu_inference_uses_it(tmp_path):
    vae = _perturbed("tiny")
    keys = set(vae.state_dict())
    z = torch.randn(1, 3, vae.latent_dim)
    with torch.no_grad():
        fp32 = vae.decode(z)
        assert "_inference_cache" in vae.__dict__  # fp32 on a CPU: the copy (exact to ~1e-7, faster)
        copy = vae.__dict__["_inference_cache"][2]
        assert torch.equal(fp32, copy(z.transpose(1, 2))[:, 0])  # it is the copy that ran
        assert torch.allclose(fp32, vae.decoder(z.transpose(1, 2))[:, 0], atol=TOL, rtol=0)
        vae.set_decode_dtype("bfloat16").decode(z)
        assert vae.__dict__["_inference_cache"][2].bigvgan.conv_pre.weight.dtype == torch.bfloat16
    assert set(vae.state_dict()) == keys
    vae.save_pretrained(tmp_path / "m")
    loaded = load_vae(tmp_path / "m")
    assert loaded.decode_dtype == torch.float32
    z = torch.randn(1, 7, vae.latent_dim)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), vae.set_decode_dtype("float32").decode(z))


def test_bf16_decode_is_close_and_returns_float32():
    vae = _perturbed("tiny")
    z = torch.randn(1, 20, vae.latent_dim)
    with torch.no_grad():
        ref = vae.decode(z)
        out = vae.set_decode_dtype("bfloat16").decode(z)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max().item() > 0 and _close_in_bf16(out, ref)
    with pytest.raises(Exception, match="float32, bfloat16 or float16"):
        vae.set_decode_dtype(torch.int8)
    with pytest.raises(Exception, match="float32, bfloat16 or float16"):
        vae.set_decode_dtype("bf16")


def test_inference_copy_of_a_deep_copied_decoder():
    """An EMA model is a deep copy, whose BigVGAN config (an AttrDict) loses its attribute view."""
    import copy

    vae = copy.deepcopy(_perturbed("tiny"))
    z = torch.randn(1, 5, vae.latent_dim)
    with torch.no_grad():
        assert torch.allclose(vae.decode(z), vae.decoder(z.transpose(1, 2))[:, 0], atol=TOL, rtol=0)


def test_train_mode_no_grad_decodes_run_the_trained_modules():
    """A trainer's no-grad generator pass (gradient accumulation) must not build a copy every step."""
    vae = _perturbed("tiny").train()
    z = torch.randn(1, 4, vae.latent_dim)
    with torch.no_grad():
        out = vae.decode(z)
        assert "_inference_cache" not in vae.__dict__
        assert torch.equal(out, vae.decoder(z.transpose(1, 2))[:, 0])


@pytest.mark.parametrize("variant", [
    dict(activation="snake", snake_logscale=False),
    dict(resblock="2", use_tanh_at_final=True, use_bias_at_final=True),
])
def test_inference_copy_of_other_bigvgan_variants(variant):
    """Snake without log scale, AMP block type 2, a tanh and a bias at the end: the copy follows."""
    from vae.decoder import build_bigvgan

    h = {**dict(_perturbed("tiny").decoder.h), **variant}
    if h["resblock"] == "2":
        h["resblock_dilation_sizes"] = [d[:2] for d in h["resblock_dilation_sizes"]]
    torch.manual_seed(0)
    decoder = build_bigvgan(h).eval()
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if not h["snake_logscale"]:  # linear-scale alphas must stay away from 0
            for name, p in decoder.named_parameters():
                if name.endswith(("alpha", "beta")):
                    p.abs_().add_(0.5)
        fast = inference_decoder(decoder)
        for t in (1, 3, 11):
            z = torch.randn(3, h["num_mels"], t)
            ref, out = decoder(z), fast(z)
            assert out.shape == ref.shape
            assert (out - ref).abs().max() <= TOL * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("left,right", [(2, 4), (4, 2), (3, 3)])
def test_zero_padded_depthwise_with_uneven_pads(left, right):
    """oneDNN pads both sides alike; uneven pads are made by padding more and trimming."""
    import torch.nn.functional as F

    torch.manual_seed(left)
    x = torch.randn(2, 3, 1, 9).contiguous(memory_format=torch.channels_last)
    w = torch.randn(3, 1, 1, left + right + 1)
    want = F.conv2d(F.pad(x, (left, right)), w, groups=3)
    got = _zero_padded_depthwise(x, w, left, right)
    assert got.shape == want.shape == x.shape and torch.allclose(got, want, atol=1e-6)



def test_what_the_copy_cannot_reproduce_is_refused(monkeypatch):
    """A conv with a non-zero pad, an activation other than 2x with replicate pads, or a module
    left unconverted: each refused, not silently computed another way."""
    from bigvgan.activations import Snake
    from bigvgan.alias_free_activation.torch.act import Activation1d

    from vae import fast_decode

    with pytest.raises(ValueError, match="zero padding only, not 'reflect'"):
        fast_decode.Conv1dAs2d(torch.nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ValueError, match="2x / replicate-pad"):
        PolyphaseActivation1d(Activation1d(activation=Snake(2), up_ratio=4))
    # a conversion that misses the transposed convs (as a new BigVGAN layout might) is caught
    convert = fast_decode.Conv1dAs2d
    monkeypatch.setattr(fast_decode, "Conv1dAs2d",
                        lambda c: c if isinstance(c, torch.nn.ConvTranspose1d) else convert(c))
    with pytest.raises(ValueError, match="left ConvTranspose1d unconverted"):
        inference_decoder(_perturbed("tiny").decoder)
