"""Tiny real models and deterministic test audio for the eval tests (built here, nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from eval.metrics.speechlike import speechlike

VOCAB = ["<pad>", "<unk>", "|", "a", "b", "c", "d", "e", "h", "i", "l", "o", "r", "s", "t", "w"]


def tiny_ctc_dir(root: Path, favour: str | None = None) -> Path:
    """A random-init Wav2Vec2ForCTC + Wav2Vec2CTCTokenizer + feature extractor saved with save_pretrained.

    With ``favour`` set, the output layer is zeroed and that token's bias made large, so greedy decoding
    has one known answer (the token once, repeats collapsed).
    """
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    root.mkdir(parents=True, exist_ok=True)
    vocab_file = root / "vocab_src.json"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    tok = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
    cfg = Wav2Vec2Config(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_feat_extract_layers=2,
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0, feat_extract_norm="group",
        do_stable_layer_norm=False, ctc_loss_reduction="mean",
    )
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(cfg).eval()
    if favour is not None:
        with torch.no_grad():
            model.lm_head.weight.zero_()
            model.lm_head.bias.fill_(-10.0)
            model.lm_head.bias[VOCAB.index(favour)] = 10.0
    model.save_pretrained(root)
    tok.save_pretrained(root)
    Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True, return_attention_mask=False).save_pretrained(root)
    vocab_file.unlink()
    return root


def tiny_xvector_dir(root: Path) -> Path:
    """A random-init WavLMForXVector (tiny widths) saved with save_pretrained."""
    from transformers import WavLMConfig, WavLMForXVector

    cfg = WavLMConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 4), num_feat_extract_layers=2, num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16, 32), tdnn_kernel=(3, 3, 1), tdnn_dilation=(1, 2, 1),
        xvector_output_dim=12, num_buckets=16, max_bucket_distance=40,
    )
    torch.manual_seed(0)
    WavLMForXVector(cfg).eval().save_pretrained(root)
    return root


SENTENCES = ["the cat sat", "a bird is here", "we ride at dawn", "she sells shells", "lost and found",
             "the wind blows", "red roses", "time will tell"]


def tiny_corpus(root: Path, sr: int = 16_000, train_speakers=("s0", "s1"), test_speakers=("s2", "s3"),
                per_speaker: int = 3, seconds: float = 1.0) -> Path:
    """A corpus in the data_prep contract (DatasetDict saved to disk) over synthetic harmonic 'voices'."""
    from datasets import Dataset, DatasetDict

    from svae_tts.audio import save_audio

    wav_dir = root / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    k = 0
    for split, speakers in (("train", train_speakers), ("test", test_speakers)):
        rows = {c: [] for c in ("id", "audio", "text", "speaker", "duration", "sample_rate")}
        for si, spk in enumerate(speakers):
            f0 = 100 + 45 * (int(spk[1:]) if spk[1:].isdigit() else si)
            for j in range(per_speaker):
                uid = f"{spk}_{j}"
                path = wav_dir / f"{uid}.wav"
                save_audio(path, speechlike(sr, seconds + 0.25 * j, f0=f0, seed=k), sr, overwrite=True)
                rows["id"].append(uid)
                rows["audio"].append(str(path.resolve()))
                rows["text"].append(SENTENCES[k % len(SENTENCES)])
                rows["speaker"].append(spk)
                rows["duration"].append(seconds + 0.25 * j)
                rows["sample_rate"].append(sr)
                k += 1
        splits[split] = Dataset.from_dict(rows)
    DatasetDict(splits).save_to_disk(str(root / "corpus"))
    return root / "corpus"


def tiny_vae_dir(root: Path, semantic: bool = True, seed: int = 0) -> Path:
    """The tiny preset with random weights, saved as a VAE model dir."""
    from vae import SemanticVAE

    torch.manual_seed(seed)
    model = SemanticVAE.from_preset("tiny", [f"semantic={str(semantic).lower()}"])
    model.save_pretrained(root)
    return root


def _mel_loss(ref: torch.Tensor, est: torch.Tensor, sr: int) -> torch.Tensor:
    from eval.metrics.signal import MEL_SCALES, _mel

    loss = 0.0
    for n_fft, n_mels in MEL_SCALES[:3]:
        m = _mel(sr, n_fft, n_mels)
        loss = loss + (torch.log10(m(ref).clamp_min(1e-5)) - torch.log10(m(est).clamp_min(1e-5))).abs().mean()
    return loss / 3


def train_standin_run(run_dir, audio_paths: list[str], export_steps: list[int], semantic: bool = True,
                      preset: str = "tiny", lr: float = 3e-3, seed: int = 0, segment: float = 1.0) -> list[float]:
    """A run dir whose ``exports/step_XXXXXXXX/`` are VAE dirs saved along a short real training.

    Multi-scale mel L1 reconstruction with Adam, no teacher, no discriminator: seconds on CPU, and the
    exports genuinely change with the step, which is all the convergence tests (and the sample report
    in ``docs/``) need. Returns the losses.
    """
    from svae_tts.audio import load_audio
    from vae import SemanticVAE

    torch.manual_seed(seed)
    model = SemanticVAE.from_preset(preset, [f"semantic={str(semantic).lower()}"])
    sr = model.sample_rate
    n = int(segment * sr)
    wavs = [load_audio(p, sr)[0] for p in audio_paths]
    batch = torch.stack([torch.nn.functional.pad(w, (0, max(0, n - w.numel())))[:n] for w in wavs])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    exports = Path(run_dir) / "exports"
    losses = []
    for step in range(max(export_steps) + 1):
        if step in export_steps:
            model.eval()
            model.save_pretrained(exports / f"step_{step:08d}")
            model.train()
        if step == max(export_steps):
            break
        loss = _mel_loss(batch, model(batch)["audio"], sr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
