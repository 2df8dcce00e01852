"""cache-models.sh against a local server speaking the hub's protocol (tests/hub_server.py), serving
small repos under the catalog's real repo ids and pinned revisions. Nothing here reaches a real hub."""

import json
import shutil
import subprocess
import time

import pytest

from conftest import REPO, clean_env
from catalog_repos import fake_files, machine_downloads, serve
from hub_server import HubServer
from shared.core.scoring import recall
from shared.models import catalog

@pytest.fixture()
def hub():
    with HubServer() as server:
        serve(server, list(dict.fromkeys(machine_downloads() + ["whisper-large-v3", "whisper-small",
                                                                "nllb-200-3.3b", "indictrans2-indic-en-1b",
                                                                "mlx-whisper-large-v3", "mlx-whisper-large-v3-turbo"])),
              big=("whisper-large-v3",))
        yield server


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def run(args, hub, cache, token=True, **extra):
    env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", SUBTITLER_CACHE_DIR=str(cache),
                    HF_TOKEN_PATH=str(cache / "no-token-here"), HF_HUB_DISABLE_PROGRESS_BARS="1", **extra)
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = hub.valid_token
    return subprocess.run(["./cache-models.sh", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def repos_downloaded(hub):
    return {r.path.split("/resolve/")[0].strip("/") for r in hub.requests if "/resolve/" in r.path
            and r.method == "GET"}


def hub_dir(cache):
    return cache / "huggingface" / "hub"


def test_model_flag_fetches_at_the_pinned_revision(hub, cache):
    result = run(["--model", "large-v3"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == {"Systran/faster-whisper-large-v3"}
    model = catalog.find("whisper-large-v3")
    snapshot = hub_dir(cache) / "models--Systran--faster-whisper-large-v3" / "snapshots" / model.revision
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.bin", "tokenizer.json"]
    assert (snapshot / "model.bin").read_bytes() == fake_files(model, big=True)["model.bin"]


@pytest.mark.parametrize("group", ["whisperx", "nllb", "indictrans2", "mlx"])
def test_each_group_flag_fetches_the_models_this_machine_uses(hub, cache, group):
    """The group's models this machine uses; where it uses none (--mlx off a Mac), the group's
    catalog defaults, to carry to a machine that does."""
    from shared.setup.cache_models import machine_models

    used = [m for m in machine_models().values() if m.group == group] or catalog.select([group])
    result = run([f"--{group}"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == {m.repo for m in used if not m.embedded}
    for m in used:
        assert (m.key + (" " if m.embedded else "")) in result.stdout
        if m.embedded:  # registered from its package into this cache, nothing downloaded
            assert "registered from its package" in result.stdout
    if group == "nllb":  # converted to CTranslate2 once, right after download, and recorded
        record = json.loads(next((cache / "huggingface/subtitler/records").glob("*nllb*")).read_text())
        assert record["converted"]["format"] == "ctranslate2" and record["converted"]["quantization"] == "float16"
        converted = cache / "huggingface/subtitler/converted" / f"models--{used[0].repo.replace('/', '--')}" / record["commit"]
        assert (converted / "model.bin").is_file() and (converted / "tokenizer.json").is_file()


def test_translation_defaults_fit_the_machine():
    """The hardware table's translation tier: never the 17.6 GB NLLB 3.3B on a machine without a GPU."""
    hw = json.loads((REPO / "config/hardware_cache.json").read_text())
    translate = hw["stages"]["translate"]
    assert translate["tier"] in catalog.translation_tiers() and translate["why"]
    assert translate["routes"] == catalog.translation_tiers()[translate["tier"]]
    if not hw["cuda"]["available"]:
        assert "nllb-200-3.3b" not in translate["routes"].values()
    if hw["memory_gb"] < 32 and not hw["cuda"]["available"]:
        assert sum(catalog.find(k).size_gb for k in set(translate["routes"].values())) < 8


def test_all_fetches_every_model_this_machine_uses_and_status_has_nothing_missing(hub, cache):
    result = run(["--all"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == {catalog.find(k).repo for k in machine_downloads()}
    status = json.loads(run(["--status", "--json"], hub, cache).stdout)
    assert status["schema_version"] == 1 and status["hub_cache"] == str(hub_dir(cache))
    hw = json.loads((REPO / "config/hardware_cache.json").read_text())
    by_key = {m["key"]: m for m in status["models"]}
    for key in machine_downloads():
        assert by_key[key]["cached"] and by_key[key]["commit"] == catalog.find(key).revision
        assert by_key[key]["size_bytes"] > 0
    asr_key = catalog.find(hw["stages"]["asr"]["model"], "asr").key  # the hardware's choice, not a name
    assert by_key[asr_key]["cached"] and asr_key in status["workflows"]["transcribe"]["needs"]
    assert not by_key["whisper-small"]["cached"]
    assert all(pair["cached"] for pair in status["translation_pairs"].values())
    assert {name: wf["missing"] for name, wf in status["workflows"].items()} == \
        {"transcribe": [], "translate": [], "subtitle": []}
    assert status["chosen"]["asr"]["why"] and status["chosen"]["translate"]["tier"] == hw["stages"]["translate"]["tier"]
    human = run(["--status"], hub, cache).stdout
    assert "missing" not in human and "translation tier" in human


def test_dry_run_counts_bytes_and_fetches_nothing(hub, cache):
    result = run(["--dry-run", "--model", "large-v3"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert "12.0 MB to download" in result.stdout
    assert repos_downloaded(hub) == set()
    assert not list(hub_dir(cache).glob("models--*/blobs/*"))


def offline(args, cache, **extra):
    """cache-models.sh in a network namespace with no network at all, timed."""
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), **extra)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(["unshare", "-n", "./cache-models.sh", *args], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    return result, time.monotonic() - started


def test_dry_run_all_plans_offline_from_the_catalog(tmp_path):
    result, seconds = offline(["--dry-run", "--all"], tmp_path / "cache")
    print(f"--dry-run --all with no network: {seconds:.2f} s")
    assert result.returncode == 0, result.stderr
    assert seconds < 5
    assert result.stderr == ""
    assert "hub not reachable" in result.stdout and "total to download: about" in result.stdout
    for key in machine_downloads():
        model = catalog.find(key)
        assert f"{model.repo}@{model.revision[:12]}: about {model.size_gb:.2f} GB" in result.stdout
    assert not (tmp_path / "cache" / "huggingface" / "hub").exists() or \
        not list((tmp_path / "cache" / "huggingface" / "hub").glob("models--*/blobs/*"))


@pytest.mark.parametrize("args", [["--all"], ["--model", "small"], ["--nllb"]])
def test_every_fetch_fails_fast_and_quietly_with_no_network(tmp_path, args):
    result, seconds = offline(args, tmp_path / "cache")
    assert result.returncode == 2
    assert seconds < 8
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the hub" in lines[0] and "--import" in lines[0], result.stderr
    assert "Retry" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_hub_that_does_not_answer_fails_within_seconds(tmp_path):
    """A listening socket that never answers (a black-holed proxy or firewall)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname())  # fills the one-slot backlog
    try:
        env = clean_env(SUBTITLER_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="0",
                        HF_ENDPOINT=f"http://127.0.0.1:{server.getsockname()[1]}")
        started = time.monotonic()
        result = subprocess.run(["./cache-models.sh", "--model", "small"], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=120)
        seconds = time.monotonic() - started
    finally:
        filler.close()
        server.close()
    assert result.returncode == 2 and seconds < 15, (seconds, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_gated_repo_without_token_names_the_page_to_accept(hub, cache):
    result = run(["--model", "indictrans2-indic-en-1b"], hub, cache, token=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "https://huggingface.co/ai4bharat/indictrans2-indic-en-1B" in lines[0] and "HF_TOKEN" in lines[0]
    assert catalog.find("indictrans2-indic-en-1b").revision not in " ".join(
        p.name for p in hub_dir(cache).glob("*/snapshots/*"))


def test_token_is_never_written(hub, cache):
    assert run(["--indictrans2"], hub, cache).returncode == 0
    for path in cache.rglob("*"):
        if path.is_file() and path.stat().st_size < 10**6:
            assert hub.valid_token not in path.read_text(errors="ignore"), path


def test_interrupted_download_resumes(hub, cache):
    hub.fail_once("Systran/faster-whisper-large-v3", "model.bin", after_bytes=11 * 2**20)
    result = run(["--model", "large-v3"], hub, cache)
    assert result.returncode == 0, result.stderr
    gets = [r for r in hub.requests_for("model.bin") if r.method == "GET"]
    assert len(gets) == 2 and gets[1].headers.get("Range", "").startswith("bytes=10485760-")
    model = catalog.find("whisper-large-v3")
    blob = next(hub_dir(cache).glob("models--Systran--faster-whisper-large-v3/snapshots/*/model.bin"))
    assert blob.read_bytes() == fake_files(model, big=True)["model.bin"]


def test_verify_catches_corruption_and_repair_fixes_it(hub, cache):
    assert run(["--model", "small"], hub, cache).returncode == 0
    assert run(["--verify"], hub, cache).returncode == 0
    model_bin = next(hub_dir(cache).glob("models--Systran--faster-whisper-small/snapshots/*/model.bin"))
    good = model_bin.read_bytes()
    with open(model_bin.resolve(), "r+b") as handle:  # flip bytes in place, same size
        handle.seek(100)
        handle.write(b"\xff" * 16)
    result = run(["--verify"], hub, cache)
    assert result.returncode == 1
    assert "CORRUPT  whisper-small: model.bin: checksum mismatch" in result.stdout
    assert "--verify --repair" in result.stderr
    repaired = run(["--verify", "--repair"], hub, cache)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired whisper-small" in repaired.stdout
    assert model_bin.read_bytes() == good


def test_remove_and_prune(hub, cache):
    assert run(["--model", "small"], hub, cache).returncode == 0
    stray = hub_dir(cache) / "models--Systran--faster-whisper-small" / "blobs" / "abc.incomplete"
    stray.write_bytes(b"x" * 1000)
    result = run(["--prune"], hub, cache)
    assert result.returncode == 0 and not stray.exists()
    assert run(["--remove", "whisper-small"], hub, cache).returncode == 0
    assert not (hub_dir(cache) / "models--Systran--faster-whisper-small").exists()


def test_unknown_model_and_missing_selection_are_one_line_errors(hub, cache):
    for args, message in ((["--model", "gpt-9"], "unknown model 'gpt-9'"), ([], "say what to fetch")):
        result = run(args, hub, cache)
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_hub_is_a_clear_error(cache):
    class Gone:
        url = "http://127.0.0.1:9"
        valid_token = "x"

    result = run(["--model", "small"], Gone, cache)
    assert result.returncode == 2
    assert "cannot reach the hub" in result.stderr and "Traceback" not in result.stderr


# -- bundles and the offline proof ----------------------------------------------------------------

def job_env(cache, out):
    return clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")


def transcribe_job(media, cache, out, model="tiny.en"):
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
                           "--model", model], cwd=REPO, env=job_env(cache, out), capture_output=True, text=True)
    assert prep.returncode == 0, prep.stderr
    return prep.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from make_sample import make

    media = tmp_path_factory.mktemp("speech") / "speech.wav.mp4"
    make(media, sentences=SPEECH)
    return media


SPEECH = ["The monsoon arrived early this year.", "Schools will remain open on Monday."]


def heard_the_speech(subtitles) -> bool:
    """The subtitles hold most of what was said (not one exact reading: CPUs' int8 kernels differ)."""
    return recall(" ".join(SPEECH), subtitles.read_text(encoding="utf-8")) >= 0.6


def test_export_wipe_import_and_a_job_runs(hub, tmp_path, speech):
    cache = tmp_path / "cache"
    # the embedded tiny.en in a cache of its own, registered from its package; small from the hub
    registered = run(["--model", "tiny.en"], hub, cache)
    assert "registered from its package" in registered.stdout, registered.stderr
    assert run(["--model", "small"], hub, cache).returncode == 0
    bundle = tmp_path / "models.tar"
    exported = run(["--export", str(bundle)], hub, cache)
    assert exported.returncode == 0, exported.stderr
    assert "exported 2 model(s)" in exported.stdout
    shutil.rmtree(cache)
    imported = run(["--import", str(bundle)], hub, cache)
    assert imported.returncode == 0, imported.stderr
    assert "Systran/faster-whisper-tiny.en" in imported.stdout
    assert run(["--verify"], hub, cache).returncode == 0
    tiny = catalog.find("tiny.en")  # carried under its real revision and sha256-named blobs
    tiny_root = hub_dir(cache) / "models--Systran--faster-whisper-tiny.en"
    assert (tiny_root / "snapshots" / tiny.revision / "model.bin").resolve().name == \
        tiny.embedded_from["files"]["model.bin"]["sha256"]
    assert (tiny_root / "refs/main").read_text() == tiny.revision
    hub.clear_requests()
    out = tmp_path / "out"
    job_id = transcribe_job(speech, cache, out)
    result = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=job_env(cache, out),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert heard_the_speech(out / job_id / "subtitles" / "speech.wav.en.srt")
    assert hub.requests == []


def test_damaged_bundle_is_refused_and_nothing_placed(hub, tmp_path):
    cache = tmp_path / "cache"
    assert run(["--model", "small"], hub, cache).returncode == 0
    bundle = tmp_path / "models.tar"
    assert run(["--export", str(bundle), "--model", "small"], hub, cache).returncode == 0
    data = bytearray(bundle.read_bytes())
    marker = data.find(b"Systran/faster-whisper-small config.json")
    data[marker:marker + 7] = b"XXXXXXX"
    bundle.write_bytes(bytes(data))
    fresh = tmp_path / "fresh"
    result = run(["--import", str(bundle)], hub, fresh)
    assert result.returncode == 2 and "fails its checksum" in result.stderr and "nothing was imported" in result.stderr
    assert not list(hub_dir(fresh).glob("models--*"))


def test_job_with_a_missing_model_fails_before_any_work(tmp_path, speech):
    cache, out = tmp_path / "cache", tmp_path / "out"
    job_id = transcribe_job(speech, cache, out, model="small")
    result = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=job_env(cache, out),
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == ("run-pipeline.sh: error: model Systran/faster-whisper-small (whisper-small) "
                                     "is not cached: run ./cache-models.sh --model whisper-small")
    assert not (out / job_id / "audio.wav").exists() and not (out / job_id / "status.json").exists()


def test_missing_model_with_fallback_uses_the_best_embedded_one_and_says_so(tmp_path, speech):
    cache, out = tmp_path / "cache", tmp_path / "out"
    registered = subprocess.run(["./cache-models.sh", "--model", "base"], cwd=REPO, env=job_env(cache, out),
                                capture_output=True, text=True)
    assert registered.returncode == 0 and "registered from its package" in registered.stdout, registered.stderr
    job_id = transcribe_job(speech, cache, out, model="large-v3")
    result = subprocess.run(["./run-pipeline.sh", "-j", job_id, "--fallback-model"], cwd=REPO,
                            env=job_env(cache, out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "whisper-large-v3) is not cached" in result.stdout and "uses the embedded whisper-base" in result.stdout
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["model"] == "whisper-base"
    job = json.loads((out / job_id / "job.json").read_text())
    assert job["fallbacks"]["asr"] == {"wanted": "large-v3", "used": "whisper-base"}
    assert heard_the_speech(out / job_id / "subtitles" / "speech.wav.en.srt")


def test_offline_proof_a_job_runs_with_no_network_at_all(tmp_path, speech):
    """After caching, a transcribe job in a network namespace with no interface up but a downed
    loopback (`unshare -n`) completes."""
    out = tmp_path / "out"
    env = clean_env(SUBTITLER_OUT_DIR=str(out))
    env.pop("HF_HUB_OFFLINE", None)  # the environment manager sets it; prove nothing else is needed
    job_id = transcribe_job(speech, REPO / ".cache", out)
    probe = subprocess.run(["unshare", "-n", "python3", "-c",
                            "import socket; socket.create_connection(('1.1.1.1', 443), timeout=2)"],
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "Network is unreachable" in probe.stderr
    result = subprocess.run(["unshare", "-n", "./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert heard_the_speech(out / job_id / "subtitles" / "speech.wav.en.srt")
