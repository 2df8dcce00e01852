"""WhisperX batched ASR and pyannote VAD end to end, offline, through the real fronts.

Both run in the whisperx venv (torch, whisperx 3.8.6, pyannote.audio): the VAD is pyannote's
VoiceActivityDetection with the segmentation model the whisperx wheel bundles, the ASR is WhisperX's
batched pipeline on the real embedded tiny.en, given the VAD stage's regions. No alignment model is
cached in the first job, so its segments are the speech regions themselves; the second job's cache
holds a tiny random wav2vec2 CTC model (served under facebook/wav2vec2-base-960h and fetched by
cache-models.sh, with NLTK's punkt_tab beside it), so its words are aligned, to arbitrary times.
"""

import functools
import http.server
import json
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import srt

from catalog_repos import serve
from conftest import REPO, clean_env
from hub_server import HubServer
from shared.subtitles.rules import Rules, length
from test_transcribe_e2e import make, recall, sh, word_error_rate
from make_sample import SENTENCES  # noqa: E402  (scripts/ is on the path once test_transcribe_e2e is imported)


@pytest.fixture(scope="module")
def whisperx_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    media = tmp_path_factory.mktemp("media") / "news.mp4"
    truth = make(media, sentences=SENTENCES["en"])  # espeak-ng's default English voice
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
              "--engine", "whisperx", "--vad", "pyannote", "--model", "tiny.en", out=out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out / job_id, media, truth


def test_pyannote_regions_start_at_each_sentence(whisperx_job):
    job, _, truth = whisperx_job
    vad = json.loads((job / "vad.json").read_text())
    assert vad["engine"] == "pyannote"
    assert len(vad["regions"]) == len(truth["sentences"])
    for region, sentence in zip(vad["regions"], truth["sentences"]):
        assert abs(region["start"] - sentence["start"]) <= 0.1, (region, sentence)
        assert -0.2 <= region["end"] - sentence["end"] <= 0.6, (region, sentence)  # tails vary more


def test_whisperx_transcribes_each_region(whisperx_job):
    job, media, truth = whisperx_job
    transcript = json.loads((job / "transcript.json").read_text())
    assert transcript["engine"] == "whisperx" and transcript["aligned"] is False
    assert transcript["language"] == "en"
    vad = json.loads((job / "vad.json").read_text())
    # unaligned: one segment per speech region, on the region's own times
    assert [(s["start"], s["end"]) for s in transcript["segments"]] == \
        [(r["start"], r["end"]) for r in vad["regions"]]
    reference = " ".join(s["text"] for s in truth["sentences"])
    wer = word_error_rate(reference, " ".join(s["text"] for s in transcript["segments"]))
    print(f"WER {wer:.3f}")
    assert wer <= 0.15, transcript["segments"]
    log = (job / "logs" / "asr.log").read_text()
    assert "no word alignment" in log and "./cache-models.sh --model align-en" in log


def test_subtitles_follow_the_regions_and_the_rules(whisperx_job):
    job, media, truth = whisperx_job
    cues = list(srt.parse((job / "subtitles" / f"{media.stem}.en.srt").read_text(encoding="utf-8")))
    starts = [c.start.total_seconds() for c in cues]
    for sentence in truth["sentences"]:
        assert min(abs(s - sentence["start"]) for s in starts) <= 0.35, (sentence, starts)
    rules = Rules.default()
    for cue in cues:
        lines = cue.content.split("\n")
        assert len(lines) <= rules.max_lines and all(length(line) <= rules.max_chars_per_line for line in lines)


def test_stages_ran_in_the_whisperx_venv(whisperx_job):
    job, _, _ = whisperx_job
    status = json.loads((job / "status.json").read_text())
    venvs = {stage: status["stages"][stage].get("venv") for stage in ("vad", "asr", "subtitles")}
    assert venvs == {"vad": "whisperx", "asr": "whisperx", "subtitles": "common"}, status
    assert (REPO / ".venvs" / "whisperx" / "bin" / "python").exists()


# -- alignment ------------------------------------------------------------------------------------

PUNKT_FILES = {  # NLTK's punkt_tab layout: one directory of parameter files per language
    "punkt_tab/english/abbrev_types.txt": "mr\ndr\netc\n",
    "punkt_tab/english/collocations.tab": "",
    "punkt_tab/english/sent_starters.txt": "the\nschools\n",
    "punkt_tab/english/ortho_context.tab": "the\t14\n",
    "punkt_tab/README": "a tiny stand-in built by the tests\n",
}


@pytest.fixture(scope="module")
def aligned_job(tmp_path_factory):
    """A cache holding tiny.en, a tiny random wav2vec2 CTC model served as facebook/wav2vec2-base-960h and
    fetched by cache-models.sh, and the punkt_tab it fetches beside it; then a whisperx job on it."""
    base = tmp_path_factory.mktemp("aligned")
    cache, out, web = base / "cache", base / "out", base / "web"
    web.mkdir()
    with zipfile.ZipFile(web / "punkt_tab.zip", "w") as zf:
        for name, text in PUNKT_FILES.items():
            zf.writestr(name, text)
    model_dir = base / "wav2vec2"
    subprocess.run([str(REPO / ".venvs/whisperx/bin/python"), "tests/tiny_models.py", "wav2vec2", str(model_dir)],
                   cwd=REPO, env=clean_env(HF_HUB_OFFLINE="1"), check=True, capture_output=True, timeout=300)
    tiny_en = "models--Systran--faster-whisper-tiny.en"
    shutil.copytree(REPO / ".cache/huggingface/hub" / tiny_en, cache / "huggingface/hub" / tiny_en, symlinks=True)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(web))
    handler.log_message = lambda *a: None
    web_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web_server.serve_forever, daemon=True).start()
    try:
        with HubServer() as hub:
            serve(hub, ["align-en"], files={"align-en": {p.name: p.read_bytes() for p in model_dir.iterdir()}})
            env = clean_env(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", SUBTITLER_CACHE_DIR=str(cache),
                            HF_HUB_DISABLE_PROGRESS_BARS="1",
                            SUBTITLER_PUNKT_URL=f"http://127.0.0.1:{web_server.server_port}/punkt_tab.zip")
            fetched = subprocess.run(["./cache-models.sh", "--model", "align-en"], cwd=REPO, env=env,
                                     capture_output=True, text=True, timeout=600)
            assert fetched.returncode == 0, fetched.stdout + fetched.stderr
            status = subprocess.run(["./cache-models.sh", "--status", "--json"], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert json.loads(status.stdout)["sentence_splitter"]["cached"] is True, status.stdout + status.stderr
    finally:
        web_server.shutdown()
    media = base / "media" / "news.mp4"
    truth = make(media)
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
                           "--engine", "whisperx", "--vad", "pyannote", "--model", "tiny.en"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return cache, out / job_id, truth


def test_cache_models_fetches_the_sentence_splitter_with_an_alignment_model(aligned_job):
    cache, _, _ = aligned_job
    english = cache / "nltk/tokenizers/punkt_tab/english"
    assert sorted(p.name for p in english.iterdir()) == sorted(Path(n).name for n in PUNKT_FILES if "english" in n)
    assert not list((cache / "nltk/tokenizers").glob(".punkt_tab-*"))  # no temporary left behind


def test_aligned_words_carry_their_own_times(aligned_job):
    _, job, truth = aligned_job
    transcript = json.loads((job / "transcript.json").read_text())
    assert transcript["engine"] == "whisperx" and transcript["aligned"] is True
    vad = json.loads((job / "vad.json").read_text())
    # aligned, the regions were joined into chunks of up to 30 s: the whole sample is one chunk
    words = [w for s in transcript["segments"] for w in s["words"]]
    reference = " ".join(s["text"] for s in truth["sentences"])
    assert word_error_rate(reference, " ".join(w["word"] for w in words)) <= 0.15
    # random alignment weights put words anywhere, but never outside the speech or out of order
    assert all(vad["regions"][0]["start"] - 0.01 <= w["start"] <= w["end"] <= vad["regions"][-1]["end"] + 0.01
               for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    assert "no word alignment" not in (job / "logs" / "asr.log").read_text()


def test_bundle_carries_the_sentence_splitter_to_an_air_gapped_cache(aligned_job, tmp_path):
    cache, _, _ = aligned_job
    bundle = tmp_path / "align.tar"
    exported = subprocess.run(["./cache-models.sh", "--model", "align-en", "--export", str(bundle)], cwd=REPO,
                              env=clean_env(SUBTITLER_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1"),
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    other = tmp_path / "air-gapped"
    env = clean_env(SUBTITLER_CACHE_DIR=str(other), HF_HUB_OFFLINE="1")
    imported = subprocess.run(["./cache-models.sh", "--import", str(bundle)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    status = json.loads(subprocess.run(["./cache-models.sh", "--status", "--json"], cwd=REPO, env=env,
                                       capture_output=True, text=True, timeout=120).stdout)
    assert status["sentence_splitter"]["cached"] is True
    assert next(m for m in status["models"] if m["key"] == "align-en")["cached"] is True
    for name in PUNKT_FILES:
        if name.startswith("punkt_tab/english/"):
            assert (other / "nltk/tokenizers" / name).read_text() == PUNKT_FILES[name]


def test_whisperx_detects_the_language_from_the_speech(tmp_path):
    """-s auto on the multilingual embedded base, through the whisperx engine: Spanish is heard as
    Spanish, and the probability is recorded."""
    from test_transcribe_e2e import SPANISH

    media = tmp_path / "noticias.mp4"
    make(media, lang="es", sentences=SPANISH)
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto",
              "--engine", "whisperx", "--vad", "pyannote", "--model", "base", out=tmp_path / "out")
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=tmp_path / "out")
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((tmp_path / "out" / job_id / "transcript.json").read_text())
    assert transcript["engine"] == "whisperx"
    assert transcript["language"] == "es" and transcript["language_probability"] > 0.5, transcript
    text = " ".join(s["text"] for s in transcript["segments"])
    assert recall(" ".join(SPANISH), text) >= 0.5, text  # heard as Spanish (base garbles some of espeak-ng's)
    assert (tmp_path / "out" / job_id / "subtitles" / "noticias.es.srt").exists()


def test_whisperx_checks_the_script_of_what_it_heard(tmp_path):
    """-s hi on English speech: base writes the English in Latin letters, not in Hindi's script; the
    whisperx engine decodes the segment again with Hindi forced (faster-whisper's batched pipeline on
    WhisperX's own model) and records it in decoding.script, as the other engines do."""
    media = tmp_path / "news.mp4"
    make(media, sentences=SENTENCES["en"][:2])
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "hi",
              "--engine", "whisperx", "--model", "base", out=tmp_path / "out")
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=tmp_path / "out")
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((tmp_path / "out" / job_id / "transcript.json").read_text())
    script = transcript["decoding"]["script"]
    assert script and all(e["found"] != "Deva" and e["expected"] == ["Deva"] for e in script), script
    assert any(e["found"] == "Latn" for e in script), script  # the English, in Latin letters
    assert all(e["action"].startswith(("decoded again", "kept: decoded again")) for e in script)
    assert transcript["model"] == "base" and transcript["segments"]
