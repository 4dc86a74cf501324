"""The CPU dry run (``benchmarks/gpu_suite.py --cpu-dry-run``) at the tiny sizes: the code path CI
runs at the released sizes after the tests, so it cannot rot between CI runs."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str, monkeypatch):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dry_run(monkeypatch):
    return _module("dry_run", monkeypatch)


def test_every_command_runs_and_what_it_made_loads(tmp_path, dry_run):
    import soundfile as sf

    from tts_recipes.synthesis import Synthesizer
    from vae.load import load_vae

    out, work = tmp_path / "dry.json", tmp_path / "work"
    res = dry_run.run_dry_run(out, tiny=True, threads=1, keep=work)
    assert dry_run.failed(res) == [], {k: res[k].get("error") for k in dry_run.SECTIONS}
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    for name in dry_run.SECTIONS:
        row = res[name]
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 50, (name, row)  # a Python with torch loaded
        assert any(k.endswith("_params_M") and v > 0 for k, v in row.items()) or name == "latent_extraction", row
    vae_row = res["vae_training"]
    assert vae_row["checkpoints"] == [1, 2] and list(vae_row["commands"]) == ["vae_train", "vae_resume"]
    assert list(res["mel_baseline"]["commands"]) == ["tts_mel", "synth_mel"]
    for name in dry_run.SECTIONS:  # a section's figures are its commands' (and this process's CPU share)
        cmds = res[name]["commands"].values()
        assert res[name]["peak_rss_mb"] == max(c["peak_rss_mb"] for c in cmds)
        assert res[name]["cpu_s"] >= sum(c["cpu_s"] for c in cmds) > 0
        assert res[name]["seconds"] >= sum(c["seconds"] for c in cmds)
    vae = load_vae(work / vae_row["export"])  # the resumed run's export, step 2
    assert vae_row["export"].endswith("step_00000002")
    assert vae_row["vae_params_M"] == pytest.approx(sum(p.numel() for p in vae.parameters()) / 1e6)
    assert vae_row["discriminator_params_M"] > 0 and vae_row["teacher_params_M"] > 0
    ext = res["latent_extraction"]
    assert ext["vae"] == "section 1's export" and ext["latent_dim"] == vae.latent_dim
    assert all(n == round(dry_run.TINY.clip_seconds * vae.frame_rate) for ns in ext["frames"].values() for n in ns)
    assert sum(len(ns) for ns in ext["frames"].values()) == dry_run.TINY.clips
    synth = Synthesizer.from_pretrained(work / res["tts_training"]["export"])  # the export a user loads
    assert synth.space.dim == vae.latent_dim == res["tts_training"]["feature_dim"]
    for name, wav, rate in (("synthesis", "synth_latent.wav", 16000), ("mel_baseline", "synth_mel.wav", 24000)):
        audio, sr = sf.read(str(work / wav))
        assert sr == rate == res[name]["sample_rate"]
        assert len(audio) / sr == pytest.approx(dry_run.TINY.synth_seconds, abs=0.03) == res[name]["wav_seconds"]
        assert res[name]["nfe"] == 4
    table = out.with_suffix(".md").read_text()
    assert "TINY" in table and all(f"| {name} |" in table for name in dry_run.SECTIONS)


def test_a_section_without_its_input_is_skipped_and_named(tmp_path, monkeypatch, dry_run):
    """Synthesis alone has no TTS export to load: recorded as skipped, naming what it needed, and
    the command exits 1."""
    suite = _module("gpu_suite", monkeypatch)
    rc = suite.main(["--cpu-dry-run", "--smoke", "--threads", "1", "--sections", "synthesis", "--out", str(tmp_path / "d.json")])
    res = json.loads((tmp_path / "d.json").read_text())
    assert rc == 1 and set(res).isdisjoint({"vae_training", "tts_training"})
    assert res["synthesis"]["error"] == ("skipped: needs the tts export that tts_training makes, and it failed")
    assert dry_run.failed(res) == ["synthesis"] and "**failed**" in (tmp_path / "d.md").read_text()


def test_a_command_is_measured_on_its_own_and_its_failure_quotes_its_output(tmp_path, dry_run):
    """``peak_rss_mb`` is that command's high-water mark (here ~400 MiB held for a second, then
    freed), not the suite's (this pytest, torch loaded, holds more than the small command); a
    non-zero exit stops the section with the log's last lines, its figures kept."""
    grow = "import time, numpy as np; a = np.ones(400 * 2**20 // 8); time.sleep(1); del a; time.sleep(0.3)"
    big = dry_run.run_child([sys.executable, "-c", grow], tmp_path / "big.log", threads=1)
    small = dry_run.run_child([sys.executable, "-c", "pass"], tmp_path / "small.log", threads=1)
    assert big.peak_rss_mb > 400 > small.peak_rss_mb and big.seconds > 0 and big.cpu_s > 0
    assert big.returncode == small.returncode == 0
    dry = dry_run.DryRun(tmp_path, dry_run.TINY, threads=1)
    fail = "import sys; print('the reason'); sys.exit(3)"
    with pytest.raises(dry_run.SectionFailed, match=r"(?s)exited 3 after .*last lines of fail.log:\nthe reason"):
        dry.children(("ok", [sys.executable, "-c", "pass"]), ("fail", [sys.executable, "-c", fail]),
                     ("never", [sys.executable, "-c", "pass"]))
    assert [(name, c.returncode) for name, c in dry.ran] == [("ok", 0), ("fail", 3)]


BAD_ARGS = [(["--sections", "tts"], "--sections tts: not a section of --cpu-dry-run (vae_training, latent_extraction"),
            (["--threads", "0"], "argument --threads: "),
            (["--keep", "{tmp}"], "--keep {tmp}: not an empty folder")]


@pytest.mark.parametrize("args, message", BAD_ARGS, ids=["section", "threads", "keep"])
def test_bad_options_are_one_line_exit_2_before_any_work(args, message, tmp_path, monkeypatch, capsys):
    suite = _module("gpu_suite", monkeypatch)
    (tmp_path / "earlier.txt").write_text("mine")  # --keep is refused on a folder that holds anything
    with pytest.raises(SystemExit) as exc:
        suite.main(["--cpu-dry-run", "--out", str(tmp_path / "x.json"), *(a.format(tmp=tmp_path) for a in args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and ": error: " in err[-1] and message.format(tmp=tmp_path) in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.txt"]
