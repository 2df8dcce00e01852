"""ASR routed per language (issue 25, parts 1 and 3): an Indic-tuned Whisper published in transformers
format is fetched from a local server speaking the hub's protocol, converted to CTranslate2 by
cache-models.sh, and heard through faster-whisper when a job names its language; without it the job
runs on the machine's default and names the command that fetches it; --translator whisper gives
English from Spanish speech with the embedded multilingual base.

The stand-in for vasista22/whisper-hindi-small is a tiny random Whisper in the fine-tunes' own layout
(pytorch_model.bin, vocab.json and merges.txt, no tokenizer.json), built with real Whisper's
vocabulary (tests/tiny_models.py build_whisper): random weights hear nothing, so what is asserted is
the route, the conversion and the engine, not the words.
"""

import json
import shutil
import subprocess
import sys

import pytest
import srt

from conftest import REPO, clean_env
from hub_server import HubServer
from shared.core.scoring import recall
from shared.models import asr_routes, catalog

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402

HINDI = asr_routes.routes()["hi"]
HINDI_SENTENCES = ["आज मौसम अच्छा है।", "कल बारिश होगी।"]
SPANISH = ["Buenos días y bienvenidos a las noticias.", "El río subió lentamente durante la noche.",
           "Las escuelas permanecerán abiertas el lunes."]


def tiny_whisper(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-whisper") / "model"
    base = catalog.snapshot(catalog.find("base", "asr"))
    assert base is not None, "bootstrap registers the embedded multilingual base"
    subprocess.run([str(REPO / ".venvs/translate/bin/python"), str(REPO / "tests/tiny_models.py"), "whisper", str(out),
                    "--tokenizer", str(base / "tokenizer.json")], check=True, capture_output=True,
                   env={**clean_env(), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def hindi_cache(tmp_path_factory):
    """A project cache holding this machine's Hindi route, fetched and converted by cache-models.sh."""
    cache = tmp_path_factory.mktemp("hindi-asr-cache")
    model = catalog.find(HINDI, "asr")
    with HubServer() as hub:
        hub.add_repo(model.repo, tiny_whisper(tmp_path_factory), gated=False, commit=model.revision)
        env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", SUBTITLER_CACHE_DIR=str(cache),
                        HF_HUB_DISABLE_PROGRESS_BARS="1")
        result = subprocess.run(["./cache-models.sh", "--model", HINDI], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    return cache, result.stdout


@pytest.fixture(scope="module")
def hindi_media(tmp_path_factory):
    media = tmp_path_factory.mktemp("media") / "samachar.mp4"
    make(media, lang="hi", sentences=HINDI_SENTENCES)
    return media


def sh(args, cache, out):
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_the_route_is_converted_at_cache_time_with_the_hardware_quantization(hindi_cache):
    cache, said = hindi_cache
    model = catalog.find(HINDI, "asr")
    assert "converting" in said
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache))
    code = ("import json; from shared.models import catalog; m = catalog.find(%r, 'asr'); "
            "r = catalog.read_record(m.repo); print(json.dumps([str(catalog.loadable(m)), r['converted']]))" % HINDI)
    path, converted = json.loads(subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                                                text=True, check=True).stdout)
    hw = json.loads((REPO / "config/hardware_cache.json").read_text())
    assert converted["quantization"] == hw["stages"]["asr"]["compute_type"]  # int8 on a CPU
    from pathlib import Path

    made = {p.name for p in Path(path).iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"} <= made, made
    assert model.convert and model.languages == ("hi",)
    verify = subprocess.run(["./cache-models.sh", "--verify", "--model", HINDI], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0 and "ok" in verify.stdout, verify.stdout + verify.stderr


def test_a_hindi_job_is_heard_by_the_hindi_route_through_faster_whisper(hindi_cache, hindi_media, tmp_path):
    cache, _ = hindi_cache
    out = tmp_path / "out"
    prep = sh(["./prepare-job.sh", "--media", str(hindi_media), "--workflow", "transcribe", "-s", "hi"], cache, out)
    assert prep.returncode == 0, prep.stderr
    assert "cache-models.sh --model" not in prep.stdout  # the route is cached: no hint
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["model"] == HINDI and transcript["engine"] == "faster-whisper", transcript
    assert "Hindi route" in transcript["route"]["why"] and "apache-2.0" in transcript["route"]["why"]
    assert transcript["decoding"]["windows"] >= 1 and transcript["language"] == "hi"
    assert "script" in transcript["decoding"]


def test_without_the_route_the_job_runs_on_the_default_and_names_the_fetch_command(hindi_media, tmp_path):
    """The repository's own cache: bootstrap's embedded models, no Hindi fine-tune."""
    cache = REPO / ".cache"
    assert catalog.loadable(catalog.find(HINDI, "asr")) is None
    out = tmp_path / "out"
    command = f"./cache-models.sh --model {HINDI}"
    prep = sh(["./prepare-job.sh", "--media", str(hindi_media), "--workflow", "transcribe", "-s", "hi"], cache, out)
    assert prep.returncode == 0, prep.stderr
    hints = [line for line in prep.stdout.splitlines() if command in line]
    assert len(hints) == 1 and "Hindi" in hints[0] and "FLEURS" in hints[0], prep.stdout
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    assert command in run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    hw = json.loads((REPO / "config/hardware_cache.json").read_text())
    assert catalog.find(transcript["model"], "asr") == catalog.find(hw["stages"]["asr"]["model"], "asr")
    assert "not cached" in transcript["route"]["why"]
    # a job's own --model is never rerouted, and says nothing
    prep = sh(["./prepare-job.sh", "--media", str(hindi_media), "--workflow", "transcribe", "-s", "hi",
               "--model", "base"], cache, out)
    assert prep.returncode == 0 and command not in prep.stdout


def test_whisper_translates_spanish_speech_into_english(tmp_path):
    media = tmp_path / "noticias.mp4"
    make(media, lang="es", sentences=SPANISH)
    out, cache = tmp_path / "out", REPO / ".cache"
    prep = sh(["./prepare-job.sh", "--media", str(media), "--workflow", "translate", "-s", "es", "-t", "en",
               "--translator", "whisper", "--model", "base"], cache, out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    english = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / "noticias.en.srt").read_text()))
    spanish = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / "noticias.es.srt").read_text()))
    # Whisper base's English for the espeak-ng Spanish (a translation, so judged by its content words)
    assert recall("Good morning and welcome to the news. The river rose slowly during the night.", english) >= 0.4, english
    assert recall(" ".join(SPANISH), english) < 0.3, english  # English, not the Spanish again
    assert recall(" ".join(SPANISH), spanish) >= 0.6, spanish
    translation = json.loads((out / job_id / "translation.en.json").read_text())
    assert translation["engine"] == "whisper-translate" and translation["model"] == "base"
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["speech_translation"]["language"] == "en"
    assert transcript["speech_translation"]["decoding"]["windows"] == transcript["decoding"]["windows"]


def test_auto_detects_then_translates(tmp_path):
    """-s auto in the translate workflow: the language is detected by the asr stage, and the
    translation follows it."""
    media = tmp_path / "auto.mp4"
    make(media, lang="es", sentences=SPANISH)
    out, cache = tmp_path / "out", REPO / ".cache"
    prep = sh(["./prepare-job.sh", "--media", str(media), "--workflow", "translate", "-s", "auto", "-t", "en",
               "--translator", "whisper"], cache, out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["language"] == "es" and transcript["speech_translation"]["source_language"] == "es"
    assert "after detecting es" in transcript["route"]["why"]
    english = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / "auto.en.srt").read_text()))
    assert recall("Good morning and welcome to the news. The river rose slowly during the night.", english) >= 0.4


@pytest.mark.parametrize("args,says", [
    (["--workflow", "translate", "-t", "fr", "--translator", "whisper"], "English only"),
    (["--workflow", "translate", "-t", "en", "--translator", "whisper", "--model", HINDI], "cannot translate"),
    (["--workflow", "transcribe", "--translator", "whisper"], "no targets"),
    (["--workflow", "translate", "-t", "en", "--translator", "whisper", "--engine", "mlx"], "faster-whisper"),
])
def test_whisper_translator_options_are_checked(hindi_media, tmp_path, args, says):
    result = sh(["./prepare-job.sh", "--media", str(hindi_media), "-s", "hi", *args], REPO / ".cache", tmp_path)
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_quality_bench_scores_every_cached_model_that_hears_the_language(tmp_path):
    """bench/asr_quality.py on a folder with transcripts.tsv and on a NeMo-style manifest."""
    import make_sample

    english = ["The river rose slowly during the night.", "Schools will stay open on Monday."]
    for index, sentence in enumerate(english):
        make_sample.speak([sentence], "en-us", 0.5, 0.3, tmp_path / f"clip{index}.wav")
    (tmp_path / "transcripts.tsv").write_text("".join(f"clip{i}.wav\t{s}\n" for i, s in enumerate(english)))
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": f"clip{i}.wav", "text": s, "duration": 3.0}) + "\n"
                                for i, s in enumerate(english)), encoding="utf-8")
    python = str(REPO / ".venvs/common/bin/python")
    env = clean_env(HF_HUB_OFFLINE="1")
    table = subprocess.run([python, "bench/asr_quality.py", "--data", str(tmp_path), "--language", "en"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert table.returncode == 0, table.stderr
    assert "WER" in table.stdout and "whisper-tiny.en" in table.stdout and "whisper-base" in table.stdout
    rows = json.loads(subprocess.run([python, "bench/asr_quality.py", "--data", str(manifest), "--language", "en",
                                      "--models", "tiny.en", "--json"], cwd=REPO, env=env, capture_output=True,
                                     text=True, timeout=600, check=True).stdout)
    assert [r["model"] for r in rows] == ["whisper-tiny.en"] and rows[0]["words"] == 13
    assert rows[0]["wer"] <= 0.3 and 0 <= rows[0]["cer"] <= rows[0]["wer"] and rows[0]["rtf"] > 0
    # Hindi: no cached model hears it but the multilingual base, which is scored
    bad = subprocess.run([python, "bench/asr_quality.py", "--data", str(tmp_path / "none.jsonl"), "--language", "hi"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no such manifest" in bad.stderr and "Traceback" not in bad.stderr


def test_a_short_pin_fetches_only_the_head_it_names(tmp_path_factory):
    """A repo whose page shows only a short commit hash is pinned by it: cache-models fetches main while
    main is at that commit (and records the full one), and refuses, fetching nothing, once main has
    moved on."""
    model = catalog.find("whisper-marathi-small", "asr")
    assert catalog.short_pin(model.revision) and len(model.revision) == 7
    cache = tmp_path_factory.mktemp("short-pin-cache")
    full = model.revision + "0" * (40 - len(model.revision))
    with HubServer() as hub:
        hub.add_repo(model.repo, tiny_whisper(tmp_path_factory), gated=False, commit=full)
        env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", SUBTITLER_CACHE_DIR=str(cache),
                        HF_HUB_DISABLE_PROGRESS_BARS="1")
        fetched = subprocess.run(["./cache-models.sh", "--model", model.key], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=600)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        record = json.loads(subprocess.run(
            [sys.executable, "-c", "import json; from shared.models import catalog; "
             f"print(json.dumps(catalog.read_record({model.repo!r})))"],
            cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout)
        assert record["commit"] == full
        hub.add_repo(model.repo, {"README.md": "a later change"})  # main moves on
        shutil.rmtree(cache)
        moved = subprocess.run(["./cache-models.sh", "--model", model.key], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
    assert moved.returncode != 0 and "Traceback" not in moved.stderr
    said = moved.stderr.strip().splitlines()
    assert len(said) == 1 and "moved on" in said[0] and model.revision in said[0] and "nothing was fetched" in said[0]
    snapshots = list((cache / "huggingface").rglob("snapshots/*"))
    assert snapshots == [], snapshots
