"""Hub names wherever a model is taken, resolved offline against a real, pre-populated hub cache.

The release reference ``owner/repo/subfolder`` (the Semantic-VAE release's layout) and the model-dir
hub id ``owner/name`` go through huggingface_hub's own cache lookup (``HF_HUB_OFFLINE=1``), so these
tests exercise the same code an online user runs after a download, with no network and no stand-in
for ``snapshot_download``.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from svae_tts.cli import main
from svae_tts.errors import CheckpointError
from tests.shared_fixtures import put_in_hub_cache, save_tiny_release

REPO = "someone/Semantic-VAE"
REF = f"{REPO}/semantic_vae"


@pytest.fixture
def release(tmp_path, offline_hub):
    """A tiny release folder, and the same folder as ``someone/Semantic-VAE/semantic_vae`` in the hub cache
    (beside another subfolder, which must not be imported with it)."""
    src = save_tiny_release(tmp_path / "release" / "semantic_vae")
    put_in_hub_cache(offline_hub, REPO, src, "semantic_vae")
    put_in_hub_cache(offline_hub, REPO, save_tiny_release(tmp_path / "release" / "acoustic_vae_dim16", seed=1),
                     "acoustic_vae_dim16")
    return src


def test_vae_import_of_a_hub_reference_equals_importing_the_folder(release, tmp_path, capsys):
    assert main(["vae", "import", str(release), "-o", str(tmp_path / "local")]) == 0
    assert main(["vae", "import", REF, "-o", str(tmp_path / "hub")]) == 0
    assert f"imported {REF}" in capsys.readouterr().out
    local = load_file(str(tmp_path / "local" / "model.safetensors"))
    hub = load_file(str(tmp_path / "hub" / "model.safetensors"))
    assert set(local) == set(hub) and all(torch.equal(local[k], hub[k]) for k in local)
    assert json.loads((tmp_path / "hub" / "config.json").read_text())["source"] == REF
    # the other subfolder's weights differ: the reference picked its own folder
    other = tmp_path / "other"
    assert main(["vae", "import", f"{REPO}/acoustic_vae_dim16", "-o", str(other)]) == 0
    k = "fc_mu.weight"
    assert not torch.equal(load_file(str(other / "model.safetensors"))[k], hub[k])


def test_load_vae_imports_a_reference_once_into_the_cache(release, tmp_path, monkeypatch):
    import vae.official
    from vae import SemanticVAE
    from vae.load import load_vae

    calls = []
    real = vae.official.import_official
    monkeypatch.setattr(vae.official, "import_official", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    first = load_vae(REF)
    assert calls == [REF] and first.source == REF and first.latent_dim == 16
    cached = tmp_path / "svae_cache" / "vae" / "someone--Semantic-VAE--semantic_vae"
    assert {p.name for p in cached.iterdir()} >= {"README.md", "config.json", "model.safetensors"}
    stamp = (cached / "model.safetensors").stat().st_mtime_ns
    second = load_vae(REF, device="auto")
    assert calls == [REF], "the second load imported again"
    assert (cached / "model.safetensors").stat().st_mtime_ns == stamp
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    plain = SemanticVAE.from_pretrained(cached)  # the cached import is an ordinary model dir
    assert torch.equal(plain.fc_mu.weight, first.fc_mu.weight)
    assert not list(cached.parent.glob(".*")), "a temporary dir was left behind"


def test_a_reference_works_as_a_tts_feature_space_vae_and_an_eval_codec(release):
    from eval.codecs import features, load_codec
    from tts_recipes.feature_space import FeatureSpace

    space = FeatureSpace.from_config({"kind": "latent", "vae": REF, "mean": [0.0] * 16, "std": [1.0] * 16})
    assert space.vae_ref == REF and space.to_config()["vae"] == REF
    wav = torch.randn(8000) * 0.1
    assert space.encode(wav).shape == (1, 20, 16)
    codec = load_codec(REF)
    assert torch.equal(features(codec, wav), space.vae.encode_clips([wav])[0])


def test_a_reference_not_in_the_cache_is_one_line_naming_it(release, tmp_path, capsys):
    from vae.load import load_vae

    with pytest.raises(CheckpointError, match=f"{REPO}/no_such_folder: hub repo {REPO} has no release folder .no_such_folder."):
        load_vae(f"{REPO}/no_such_folder")
    assert main(["vae", "import", "nobody/nothing/semantic_vae", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nobody/nothing/semantic_vae: no such local directory, and could not fetch it as a hub name" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    assert not (tmp_path / "svae_cache" / "vae" / "someone--Semantic-VAE--no_such_folder").exists()


def test_model_dir_hub_id_loads_from_the_cache_and_a_missing_one_is_named(tmp_path, offline_hub):
    from vae import SemanticVAE
    from vae.load import load_vae

    torch.manual_seed(3)
    src = SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "vae_dir")
    put_in_hub_cache(offline_hub, "someone/tiny-vae", src)
    vae = load_vae("someone/tiny-vae")
    assert vae.source == "someone/tiny-vae"
    assert torch.equal(vae.fc_mu.weight, SemanticVAE.from_pretrained(src).fc_mu.weight)
    with pytest.raises(CheckpointError, match="someone/other-vae: no such local directory, and could not fetch it as a hub name"):
        load_vae("someone/other-vae")


def test_the_cli_takes_a_reference_as_its_vae(release, tmp_path):
    from svae_tts.audio import save_audio

    save_audio(tmp_path / "a.wav", torch.randn(8000) * 0.1, 16000)
    assert main(["vae", "encode", str(tmp_path / "a.wav"), "-m", REF, "-o", str(tmp_path / "lat"), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "lat" / "encode_report.json").read_text())
    assert meta["model"] == REF and len(meta["written"]) == 1


def test_two_loaders_of_one_reference_import_it_once(release, monkeypatch):
    """Every rank of an ``accelerate launch`` may name the same release: one imports, the others wait
    for that copy (without the lock the second import swapped the first one's dir away)."""
    import threading
    import time

    import vae.official

    calls = []
    real = vae.official.import_official

    def slow_import(*a, **k):
        calls.append(a[0])
        time.sleep(0.5)  # widen the window in which a second loader would start its own import
        return real(*a, **k)

    monkeypatch.setattr(vae.official, "import_official", slow_import)
    results, errors = [], []

    def load():
        try:
            results.append(vae.official.cached_release(REF))
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and calls == [REF]
    assert len(results) == 2 and results[0] == results[1] and (results[0] / "config.json").is_file()


def test_a_tts_export_bundles_a_release_references_vae(release, tmp_path):
    """An export must load offline and be checkable by hash, whichever way its VAE was named."""
    from tts_recipes.decoder_bundle import bundle_decoder

    out = tmp_path / "export"
    out.mkdir()
    cfg = bundle_decoder({"kind": "latent", "vae": REF}, out, out, None, "test export")
    assert cfg["vae"] == "vae" and cfg["vae_source"] == REF
    assert set(cfg["vae_sha256"]) == {"config.json", "model.safetensors"}
    assert (out / "vae" / "model.safetensors").is_file()


# ---- model_folder: the one decision between a local folder and a hub id -----------------------------

def test_model_folder_takes_a_local_dir_as_it_is(tmp_path, monkeypatch):
    from svae_tts.hub import model_folder

    (tmp_path / "judge").mkdir()  # empty: the loader, not the resolver, says what is missing
    assert model_folder(tmp_path / "judge", ["*.json"]) == tmp_path / "judge"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "someone").mkdir()
    (tmp_path / "someone" / "model").mkdir()
    # a local folder shaped like a hub id is the local folder: nothing is fetched
    assert model_folder("someone/model", ["*.json"]) == Path("someone/model")


@pytest.mark.parametrize("ref, message", [
    ("./gone", "./gone: no such model directory"),
    ("runs/a/step_1", "runs/a/step_1: no such model directory"),
    ("{tmp}/gone", "{tmp}/gone: no such model directory"),
    ("gone", "gone: no such model directory, and not a hub id of the form owner/name"),
    ("{tmp}/file.txt", "{tmp}/file.txt: a file, not a model directory"),
])
def test_model_folder_names_a_bad_local_reference_in_one_line(tmp_path, monkeypatch, ref, message):
    from svae_tts.hub import model_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    ref, message = ref.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(CheckpointError) as err:
        model_folder(ref, ["*.json"], what="model directory")
    assert str(err.value) == message


def test_model_folder_hub_id_offline_is_one_line_naming_it(offline_hub):
    from svae_tts.hub import model_folder

    with pytest.raises(CheckpointError) as err:
        model_folder("nobody/judge", ["*.json", ("*.safetensors", "*.bin")])
    msg = str(err.value)
    assert msg.startswith("nobody/judge: no such local directory, and could not fetch it as a hub name (not in the hub cache")
    assert "\n" not in msg


def test_model_folder_hub_id_from_the_cache_feeds_the_vocos_loader_and_a_judge(tmp_path, offline_hub):
    """A hub id in the hub cache is the cached snapshot; the Vocos loader and the CTC judge read it."""
    from eval.metrics.asr import get_asr_backend
    from svae_tts.hub import model_folder
    from tests.eval_helpers import tiny_ctc_dir
    from tts_recipes.feature_space import load_vocos, write_random_vocos

    snapshot = put_in_hub_cache(offline_hub, "someone/vocos", write_random_vocos(tmp_path / "v", dim=8,
                                                                                 intermediate_dim=16, num_layers=1))
    assert model_folder("someone/vocos", ["config.yaml", ("model.safetensors", "pytorch_model.bin")]) == snapshot
    assert load_vocos("someone/vocos").backbone.embed.out_channels == 8
    put_in_hub_cache(offline_hub, "someone/judge", tiny_ctc_dir(tmp_path / "judge", favour="a"))
    from eval.metrics.speechlike import speechlike

    assert get_asr_backend("someone/judge").transcribe(speechlike(16_000, 0.5), 16_000) == "a"


def test_model_folder_fetches_the_pickle_only_where_a_repo_has_no_safetensors(tmp_path, offline_hub, monkeypatch):
    """A choice of weights asks the hub for the first pattern, and for the next only when the
    snapshot has no file for it (the real hub_snapshot runs; the spy only records its patterns)."""
    import svae_tts.hub as hub
    from safetensors.torch import load_file as read_safetensors
    from tts_recipes.feature_space import load_vocos, write_random_vocos

    asked = []
    real = hub.hub_snapshot
    monkeypatch.setattr(hub, "hub_snapshot", lambda repo, patterns, **kw: asked.append((repo, list(patterns))) or real(repo, patterns, **kw))
    safe = write_random_vocos(tmp_path / "safe", dim=8, intermediate_dim=16, num_layers=1)
    put_in_hub_cache(offline_hub, "someone/vocos-safe", safe)
    pickled = write_random_vocos(tmp_path / "pickled", dim=8, intermediate_dim=16, num_layers=1, seed=1)
    torch.save(read_safetensors(str(pickled / "model.safetensors")), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    put_in_hub_cache(offline_hub, "someone/vocos-bin", pickled)

    assert load_vocos("someone/vocos-safe").backbone.embed.out_channels == 8
    assert asked == [("someone/vocos-safe", ["config.yaml", "model.safetensors"])]
    asked.clear()
    vocos = load_vocos("someone/vocos-bin")
    assert asked == [("someone/vocos-bin", ["config.yaml", "model.safetensors"]), ("someone/vocos-bin", ["pytorch_model.bin"])]
    want = torch.load(pickled / "pytorch_model.bin", weights_only=True)
    assert all(torch.equal(vocos.state_dict()[k], v) for k, v in want.items())
