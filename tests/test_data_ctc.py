"""The small CTC model: vocabulary, greedy decoding, a few training steps, save/load/transcribe."""

import json

import pytest
import torch

from data_prep.ctc import CTCTrainConfig, ctc_info, train_ctc, transcribe
from data_prep.ctc_vocab import (PAD, SEP, UNK, build_vocab, ctc_tokenizer, encode_text, error_rate, greedy_decode,
                                 target_text)
from data_prep.errors import DataError
from svae_tts.errors import ConfigError
from data_prep.espeak_corpus import build_espeak_corpus
from svae_tts.audio import load_audio


def _one_hot_logits(frames: list[list[str]], vocab: dict[str, int]) -> torch.Tensor:
    """Logits whose best path is ``frames[b][t]`` for item ``b`` (shorter items padded with blanks)."""
    logits = torch.full((len(frames), max(map(len, frames)), len(vocab)), -5.0)
    logits[:, :, vocab[PAD]] = 5.0
    for b, seq in enumerate(frames):
        logits[b, :len(seq)] = -5.0
        for t, tok in enumerate(seq):
            logits[b, t, vocab[tok]] = 5.0
    return logits


def test_vocab_and_greedy_decode():
    vocab = build_vocab(["ab ba", "cab"])
    assert vocab[PAD] == 0 and set("abc") < set(vocab)
    assert encode_text("ab c", vocab) == [vocab["a"], vocab["b"], vocab[SEP], vocab["c"]]
    tok = ctc_tokenizer(vocab)
    # best paths, worked by hand: repeats merge unless a blank separates them; blanks vanish; the
    # delimiter is a space (twice around a blank is still one); <unk> reads as a blank; the two
    # frames past item 0's length are padding and must be ignored
    frames = [["a", "a", PAD, "a", "b", SEP, SEP, "c", "a", "a"],
              [SEP, "b", "b", SEP, PAD, SEP, "c", UNK, "c", PAD, "a", SEP]]
    assert greedy_decode(_one_hot_logits(frames, vocab), tok, [8, 12]) == ["aab c", "b cca"]
    assert greedy_decode(_one_hot_logits(frames[1:], vocab), tok) == ["b cca"]
    assert target_text({"text": "Hello, World!  It's 3 o'clock."}, "char") == "hello world it's o'clock"
    assert error_rate(["abcd"], ["abcd"]) == 0.0 and error_rate(["abcd"], ["abed"]) == pytest.approx(0.25)


def test_train_few_steps_save_load_transcribe(tmp_path):
    corpus = tmp_path / "corpus"
    build_espeak_corpus(corpus, hours=1.0, voices=3, seed=2, max_utterances=10, max_words=6, test_size=0.2)
    cfg = CTCTrainConfig(targets="phoneme", max_steps=12, batch_size=4, lr=1e-2, warmup_steps=2, eval_items=2,
                         hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                         conv_dim=[16] * 3, mask_time_prob=0.0, dropout=0.0)
    info = train_ctc(corpus, tmp_path / "ctc", cfg)
    losses = info["losses"]
    assert len(losses) == 12 and info["steps"] == 12
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses  # it learns
    assert 0.0 <= info["per"] <= 1.5 and info["eval_items"] == 2
    # saved with its vocabulary: transformers can load it, and so can transcribe()
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

    model = Wav2Vec2ForCTC.from_pretrained(str(tmp_path / "ctc"))
    vocab = json.loads((tmp_path / "ctc" / "vocab.json").read_text())
    assert model.config.vocab_size == len(vocab)
    proc = Wav2Vec2Processor.from_pretrained(str(tmp_path / "ctc"))
    assert proc.tokenizer.pad_token_id == 0
    from svae_tts.formats.corpus import load_corpus

    rows = load_corpus(corpus)["test"]
    hyps = transcribe(tmp_path / "ctc", [r["audio"] for r in rows])
    assert len(hyps) == len(rows) and all(isinstance(h, str) for h in hyps)
    # transcribe() decodes with the saved processor: what a transformers user gets from batch_decode
    x = proc(load_audio(rows[0]["audio"], 16000)[0].numpy(), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        ids = model(x["input_values"]).logits.argmax(-1)
    plain = proc.batch_decode(ids)[0]
    assert "<unk>" in plain or " ".join(plain.split()) == hyps[0]
    assert set("".join(hyps)) <= set(vocab) | {" "}
    # shorter than the filterbank front end's 85 ms receptive field: padded, not a conv error,
    # and alone or beside a long wav it reads the same (its frame count is not negative)
    short, long_ = torch.randn(300, generator=torch.Generator().manual_seed(0)), load_audio(rows[0]["audio"], 16000)[0]
    alone = transcribe(tmp_path / "ctc", [short], sample_rate=16000) + transcribe(tmp_path / "ctc", [long_], sample_rate=16000)
    assert transcribe(tmp_path / "ctc", [short, long_], sample_rate=16000) == alone == [alone[0], hyps[0]]
    wav = torch.zeros(8000)
    assert transcribe(tmp_path / "ctc", [wav], sample_rate=8000)[0] == transcribe(tmp_path / "ctc", [torch.zeros(16000)], sample_rate=16000)[0]
    assert ctc_info(tmp_path / "ctc")["targets"] == "phoneme"
    # it doubles as the offline VAE teacher: rate and width come from what it saved
    from vae.teacher import OnlineTeacher

    teacher = OnlineTeacher(tmp_path / "ctc")
    assert (teacher.sample_rate, teacher.width, teacher.frame_rate) == (16000, 32, 50.0)
    # never clobbers an existing model
    from svae_tts.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        train_ctc(corpus, tmp_path / "ctc", cfg)


def test_same_seed_same_training_with_time_masking(tmp_path):
    """Wav2Vec2's SpecAugment draws from numpy's global generator: the seed must cover it too."""
    import numpy as np
    import soundfile as sf

    from data_prep.builders import build_csv

    lines = ["path,text,speaker"]
    for k in range(4):
        t = np.arange(int((0.5 + 0.1 * k) * 16000)) / 16000
        sf.write(tmp_path / f"u{k}.wav", (0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t)).astype(np.float32), 16000)
        lines.append(f"u{k}.wav,word {k},s0")
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    build_csv(tmp_path / "list.csv", tmp_path / "corpus")
    cfg = CTCTrainConfig(max_steps=3, batch_size=2, warmup_steps=1, hidden_size=16, num_layers=1, num_heads=1,
                         intermediate_size=16, conv_dim=[8] * 3, mask_time_prob=0.5, dropout=0.0)
    runs = []
    for name in ("a", "b"):
        np.random.seed(len(runs))  # what came before must not matter
        runs.append(train_ctc(tmp_path / "corpus", tmp_path / name, cfg)["losses"])
    assert runs[0] == runs[1]
    # the budget is steps: on a machine where every step takes ten minutes the same model comes
    # out (a wall-clock budget stopped early here); a safety cap, when set, fails loudly instead
    import time as time_mod

    import svae_tts.trainer as loop_mod

    clock = iter(range(0, 10**9, 600))
    slow = type("SlowClock", (), {"time": staticmethod(lambda: float(next(clock))),
                                  "perf_counter": staticmethod(time_mod.perf_counter)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop_mod, "time", slow)
        assert train_ctc(tmp_path / "corpus", tmp_path / "slow", cfg)["losses"] == runs[0]
        capped = CTCTrainConfig(**{**cfg.__dict__, "max_minutes": 15.0})
        with pytest.raises(DataError, match="safety cap of 15 minutes at step 1 of 3; the budget is max_steps"):
            train_ctc(tmp_path / "corpus", tmp_path / "capped", capped)
    assert loop_mod.time is time_mod
    with pytest.raises(ConfigError, match="one entry per layer.*got 7, 3, 3"):
        CTCTrainConfig(conv_dim=[8] * 7)
    with pytest.raises(DataError, match="shorter than max_seconds=0.1"):
        train_ctc(tmp_path / "corpus", tmp_path / "c", CTCTrainConfig(max_seconds=0.1))
    with pytest.raises(DataError, match="nowhere.*cannot load"):
        transcribe(tmp_path / "nowhere", [torch.zeros(10)], sample_rate=16000)
    with pytest.raises(DataError, match="give sample_rate"):
        transcribe(tmp_path / "a", [torch.zeros(1600)])


def test_fast_layouts_compute_what_the_plain_model_computes(tmp_path):
    """The training-time layouts (data_prep.ctc_layout) change how the layers run, not what they
    compute: outputs and every gradient equal the plain model's, and the saved model is a plain one."""
    from transformers import Wav2Vec2ForCTC

    from data_prep.ctc import make_model
    from data_prep.ctc_layout import use_fast_layouts

    torch.manual_seed(0)
    plain = make_model(CTCTrainConfig(), 12)
    fast = make_model(CTCTrainConfig(), 12)
    fast.load_state_dict(plain.state_dict())
    use_fast_layouts(fast)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(3, 16000)
    mask = torch.ones(3, 16000, dtype=torch.long)
    mask[2, 12000:] = 0  # a padded item
    labels = torch.tensor([[1, 2, 3, 4], [5, 6, 7, -100], [8, 9, -100, -100]])
    losses = []
    for m in (plain, fast):
        m.train()
        out = m(x, attention_mask=mask, labels=labels)
        out.loss.backward()
        losses.append((out.loss.detach(), out.logits.detach()))
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=1e-5)
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, p in fast.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-5, rtol=1e-4, msg=name)
    fast.save_pretrained(tmp_path / "m")
    back = Wav2Vec2ForCTC.from_pretrained(tmp_path / "m").eval()
    fast.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, fast(x).logits, atol=1e-5, rtol=1e-5)
