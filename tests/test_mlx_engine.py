"""The mlx engine of the asr stage (issue 14), on real Whisper weights, offline.

No MLX Whisper weights can be fetched here, but the embedded CTranslate2 models hold real ones:
`./cache-models.sh --mlx-from tiny.en` converts the cached tiny.en into the MLX layout in the cache,
and a transcribe job with `--engine mlx --model tiny.en` then runs MLX-Whisper (MLX's Linux CPU backend,
the mlx venv) on the VAD stage's windows. It must hear what the faster-whisper engine hears on the same
weights (WER <= 0.02, cue starts within 0.3 s). The same converted files, served by the local hub
server as mlx-community's repo, are fetched by cache-models.sh and used by a job in a cache that holds
no CTranslate2 copy at all."""

import json
import shutil
import subprocess
import sys

import pytest
import srt

from conftest import REPO, clean_env
from hub_server import HubServer
from shared.core.scoring import word_error_rate
from shared.models import catalog

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402

pytestmark = pytest.mark.skipif(not (REPO / ".venvs/mlx/bin/python").exists(),
                                reason="the mlx venv is not built (./bootstrap.sh --with mlx)")
SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"


def cache_models(cache, *args, **extra):
    env = clean_env(**{"SUBTITLER_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                       **extra})
    return subprocess.run(["./cache-models.sh", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def job(media, cache, out, *flags, source="en"):
    """prepare-job then run-pipeline (transcribe) in this cache; (result of the run, job directory)."""
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", source,
                           *flags], cwd=REPO, env=env, capture_output=True, text=True)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=900)
    return run, out / job_id


def cues(job_dir):
    return list(srt.parse(next((job_dir / "subtitles").glob("*.srt")).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A project cache with the embedded tiny.en registered and converted by --mlx-from."""
    cache = tmp_path_factory.mktemp("cache")
    registered = cache_models(cache, "--model", "tiny.en")
    assert registered.returncode == 0, registered.stderr
    converted = cache_models(cache, "--mlx-from", "tiny.en")
    assert converted.returncode == 0, converted.stderr
    assert "converted to" in converted.stdout and "--engine mlx --model tiny.en" in converted.stdout
    return cache


@pytest.fixture(scope="module")
def both(cache, tmp_path_factory):
    """The sample transcribed by both engines on the same tiny.en weights."""
    out = tmp_path_factory.mktemp("out")
    runs = {}
    for engine in ("mlx", "faster-whisper"):
        run, job_dir = job(SAMPLE, cache, out / engine, "--engine", engine, "--model", "tiny.en")
        assert run.returncode == 0, run.stdout + run.stderr
        runs[engine] = job_dir
    return runs


def test_mlx_hears_what_faster_whisper_hears_on_the_same_weights(both):
    transcripts = {e: json.loads((d / "transcript.json").read_text()) for e, d in both.items()}
    mlx = transcripts["mlx"]
    assert mlx["engine"] == "mlx" and mlx["model"] == "tiny.en" and mlx["language"] == "en"
    assert mlx["decoding"]["windows"] >= 1 and "redecoded" in mlx["decoding"]
    text = {e: " ".join(s["text"] for s in t["segments"]) for e, t in transcripts.items()}
    assert len(text["faster-whisper"].split()) > 30
    assert word_error_rate(text["faster-whisper"], text["mlx"]) <= 0.02, text
    truth = " ".join(s["text"] for s in json.loads((REPO / "scripts/sample/sample.en.truth.json").read_text())["sentences"])
    assert word_error_rate(truth, text["mlx"]) <= 0.1
    # issue 29: beam search as faster-whisper's (beam 5 both), within 0.01 WER of it against the truth
    assert abs(word_error_rate(truth, text["mlx"]) - word_error_rate(truth, text["faster-whisper"])) <= 0.01, text
    words = [w for s in mlx["segments"] for w in s["words"]]  # word times from MLX-Whisper's alignment
    assert len(words) > 30 and all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    assert all(w["end"] <= mlx["duration"] + 0.01 for w in words)
    mlx_cues, fw_cues = cues(both["mlx"]), cues(both["faster-whisper"])
    assert len(mlx_cues) == len(fw_cues)
    for a, b in zip(mlx_cues, fw_cues):
        assert abs(a.start.total_seconds() - b.start.total_seconds()) <= 0.3, (a, b)


# The sample's first 9 s in one clip, decoded by the mlx engine's decoder (beam 5) with the whole 30 s
# window and with the encoder trimmed, as the faster-whisper engine's test does; the mel frames each
# decode was given recorded, and the trimmed encoder checked against MLX-Whisper's on a whole window.
MLX_TRIMMED = """
import json, sys
import mlx.core as mx
from shared.asr import engine_mlx, mlx_beam
from shared.core import config
from mlx_whisper.audio import load_audio
settings = {**config.pipeline_defaults()["asr"], "model": "tiny.en", "device": "cpu", "compute_type": "float32",
            "threads": 2, "workers": 1, "beam_size": 5}
model, dtype = engine_mlx.mlx_model(settings)
mel = mx.random.normal((1, 3000, model.dims.n_mels))
same = mx.abs(mlx_beam.audio_features(model, mel, False) - model.encoder(mel)).max().item()
frames = []
decode = mlx_beam.decode
mlx_beam.decode = lambda model, mel, *rest: frames.append(mel.shape[1]) or decode(model, mel, *rest)
audio = load_audio(sys.argv[1])[:int(float(sys.argv[2]) * 16000)]
heard = {}
for name, least in (("whole", 30), ("trimmed", 0)):
    decoder = engine_mlx.mlx_decoder(model, dtype, {**settings, "encoder_min_seconds": least,
                                                    "encoder_margin_seconds": 1}, "en", None)
    segments = decoder(audio, [{"start": 0.0, "end": len(audio) / 16000}])
    heard[name] = {"text": " ".join(s["text"] for s in segments), "words": [w for s in segments for w in s["words"]]}
print(json.dumps({"same": same, "frames": frames, **heard}))
"""


def test_the_mlx_encoder_hears_a_window_without_its_padding_and_the_same_words(cache):
    """MLX-Whisper's encoder asserts Whisper's whole 3000 frames; the engine's beam search encodes
    fewer through the same layers (the same output on a whole window), as the faster-whisper engine
    does, and the words are the ones heard with the whole window, timed within the clip."""
    seconds = 9.0
    run = subprocess.run([str(REPO / ".venvs" / "mlx" / "bin" / "python"), "-c", MLX_TRIMMED, str(SAMPLE),
                          str(seconds)], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env=clean_env(SUBTITLER_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO)))
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["same"] < 1e-4
    assert found["frames"] == [3000, 1000]  # 9 s and 1 s after it, where the whole window is 3000
    whole, trimmed = found["whole"], found["trimmed"]
    assert len(whole["text"].split()) > 10
    assert word_error_rate(whole["text"], trimmed["text"]) <= 0.05, found
    assert trimmed["words"] and all(0.0 <= w["start"] <= w["end"] <= seconds + 0.01 for w in trimmed["words"])


def test_the_stage_ran_in_the_mlx_venv(both):
    log = (both["mlx"] / "logs").glob("*asr*")
    text = "".join(p.read_text(errors="replace") for p in log)
    assert "/.venvs/mlx/bin/python -m stages.asr" in text, text[-2000:]


def test_status_lists_the_mlx_copy(cache):
    status = json.loads(cache_models(cache, "--status", "--json").stdout)
    copies = {c["key"]: c for c in status["mlx_copies"]}
    tiny = catalog.find("tiny.en", "asr", "faster-whisper")
    assert copies[tiny.key]["commit"] == tiny.revision and copies[tiny.key]["size_bytes"] > 30e6
    assert "MLX copy of whisper-tiny.en" in cache_models(cache, "--status").stdout
    again = cache_models(cache, "--mlx-from", "tiny.en")
    assert again.returncode == 0 and "already converted" in again.stdout


def test_a_missing_mlx_copy_is_one_line_naming_both_ways(tmp_path):
    cache = tmp_path / "cache"
    assert cache_models(cache, "--model", "tiny.en").returncode == 0  # the CTranslate2 copy only
    run, job_dir = job(SAMPLE, cache, tmp_path / "out", "--engine", "mlx", "--model", "tiny.en")
    assert run.returncode != 0 and "Traceback" not in run.stderr + run.stdout
    line = [l for l in (run.stdout + run.stderr).splitlines() if "MLX" in l]
    assert line and "--model mlx-whisper-tiny.en" in line[0] and "--mlx-from tiny.en" in line[0], run.stderr
    assert not (job_dir / "transcript.json").exists()
    unknown = cache_models(cache, "--mlx-from", "tiny.fr")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr and "tiny.en" in unknown.stderr
    absent = cache_models(cache, "--mlx-from", "small")  # not cached: says what to fetch first
    assert absent.returncode != 0 and "./cache-models.sh --model whisper-small" in absent.stderr


@pytest.fixture(scope="module")
def short_media(tmp_path_factory):
    media = tmp_path_factory.mktemp("media") / "short.mp4"
    make(media, sentences=["The monsoon arrived early this year.", "Schools will remain open on Monday."])
    return media


def test_mlx_community_copy_from_the_hub_serves_a_job(cache, short_media, tmp_path):
    """cache-models fetches mlx-community/whisper-tiny.en-mlx (the converted files, served by the local
    hub) into a cache with no CTranslate2 tiny.en, and the mlx job finds it through the catalog."""
    converted = next((cache / "mlx" / "from-ct2").glob("*faster-whisper-tiny.en/*"))  # what --mlx-from made
    fresh = tmp_path / "cache"
    mlx_model = catalog.find("tiny.en", "asr", "mlx")
    assert mlx_model.repo == "mlx-community/whisper-tiny.en-mlx"
    with HubServer() as hub:
        hub.add_repo(mlx_model.repo, {"config.json": (converted / "config.json").read_bytes(),
                                      "weights.npz": (converted / "weights.npz").read_bytes(),
                                      "README.md": b"not fetched"})
        fetched = cache_models(fresh, "--model", mlx_model.key, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0")
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert catalog.find("tiny.en", "asr", "faster-whisper").repo not in cache_models(fresh, "--status").stdout
    run, job_dir = job(short_media, fresh, tmp_path / "out", "--engine", "mlx", "--model", "tiny.en")
    assert run.returncode == 0, run.stdout + run.stderr
    text = " ".join(s["text"] for s in json.loads((job_dir / "transcript.json").read_text())["segments"])
    assert word_error_rate("The monsoon arrived early this year. Schools will remain open on Monday.", text) <= 0.2


def test_a_multilingual_model_detects_the_language(cache, short_media, tmp_path):
    """The embedded multilingual base, converted, with no language given: MLX-Whisper's detector on
    the first 30 s of speech."""
    registered = cache_models(cache, "--model", "base")
    assert registered.returncode == 0, registered.stderr
    assert cache_models(cache, "--mlx-from", "base").returncode == 0
    run, job_dir = job(short_media, cache, tmp_path / "out", "--engine", "mlx", "--model", "base", source="auto")
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((job_dir / "transcript.json").read_text())
    assert transcript["language"] == "en" and transcript["language_probability"] > 0.5
    assert "detected language en" in (job_dir / "logs" / "asr.log").read_text()


def test_mlx_cache_dir_is_honoured(cache, short_media, tmp_path):
    """MLX_CACHE_DIR moves where --mlx-from writes and where the mlx engine looks."""
    elsewhere = tmp_path / "mlx-elsewhere"
    made = cache_models(cache, "--mlx-from", "tiny.en", "--force", MLX_CACHE_DIR=str(elsewhere))
    assert made.returncode == 0, made.stderr
    assert list(elsewhere.glob("from-ct2/*tiny.en/*/weights.npz"))
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(tmp_path / "out"), HF_HUB_OFFLINE="1",
                    MLX_CACHE_DIR=str(elsewhere))
    shutil.rmtree(cache / "mlx")  # the default place is empty now: only MLX_CACHE_DIR has the copy
    try:
        prep = subprocess.run(["./prepare-job.sh", "--media", str(short_media), "--workflow", "transcribe", "-s", "en",
                               "--engine", "mlx", "--model", "tiny.en"], cwd=REPO, env=env, capture_output=True, text=True)
        run = subprocess.run(["./run-pipeline.sh", "-j", prep.stdout.strip().splitlines()[-1]], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        assert cache_models(cache, "--mlx-from", "tiny.en").returncode == 0  # put back for the other tests


def test_a_segment_in_the_wrong_script_is_decoded_again_and_recorded(cache, short_media, tmp_path):
    """-s hi on English speech: the multilingual base writes the English in Latin letters, which is not
    Hindi's script; the mlx engine decodes it again with Hindi forced, as the other engines do, and
    records what it found and did."""
    assert cache_models(cache, "--model", "base").returncode == 0
    assert cache_models(cache, "--mlx-from", "base").returncode == 0
    run, job_dir = job(short_media, cache, tmp_path / "out", "--engine", "mlx", "--model", "base", source="hi")
    assert run.returncode == 0, run.stdout + run.stderr
    script = json.loads((job_dir / "transcript.json").read_text())["decoding"]["script"]
    assert script and all(e["found"] != "Deva" and e["expected"] == ["Deva"] for e in script), script
    assert any(e["found"] == "Latn" for e in script), script  # the English, in Latin letters
    assert all(e["action"].startswith(("decoded again", "kept: decoded again")) and e["text_before"] for e in script)
