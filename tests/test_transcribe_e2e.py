"""Transcribe end to end through the real fronts: espeak-ng English -> subtitles, offline, tiny.en."""

import json
import re
import subprocess
import sys
import wave

import pytest
import srt
import webvtt

from conftest import REPO, clean_env
from shared.core.scoring import recall, word_error_rate  # noqa: F401  (test_whisperx_engine imports it from here)
from shared.subtitles.rules import Rules, length

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import make  # noqa: E402


def sh(*cmd, check=False, **kw):
    env = clean_env(SUBTITLER_OUT_DIR=str(kw.pop("out")), HF_HUB_OFFLINE="1")
    return subprocess.run(list(cmd), cwd=REPO, env=env, capture_output=True, text=True, timeout=600, **kw)


def silence(path, seconds):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
                    "-t", str(seconds), "-c:a", "pcm_s16le", str(path)], check=True)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def finished_job(media_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    media = media_dir / "évening news 'quoted' take.mp4"
    truth = make(media)
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
              "--model", "tiny.en", out=out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out, job_id, media, truth


def test_subtitles_match_the_speech(finished_job):
    out, job_id, media, truth = finished_job
    srt_path = out / job_id / "subtitles" / f"{media.stem}.en.srt"
    cues = list(srt.parse(srt_path.read_text(encoding="utf-8")))
    text = " ".join(c.content.replace("\n", " ") for c in cues)
    reference = " ".join(s["text"] for s in truth["sentences"])
    wer = word_error_rate(reference, text)
    print(f"WER {wer:.3f}")
    assert wer <= 0.15, text
    starts = [c.start.total_seconds() for c in cues]
    for sentence in truth["sentences"]:
        assert min(abs(s - sentence["start"]) for s in starts) <= 0.5, (sentence, starts)


def test_every_cue_within_the_rules(finished_job):
    out, job_id, media, _ = finished_job
    rules = Rules.default()
    cues = list(srt.parse((out / job_id / "subtitles" / f"{media.stem}.en.srt").read_text(encoding="utf-8")))
    assert cues
    for i, cue in enumerate(cues):
        lines = cue.content.split("\n")
        assert len(lines) <= rules.max_lines and all(length(l) <= rules.max_chars_per_line for l in lines)
        duration = (cue.end - cue.start).total_seconds()
        assert rules.min_duration - 0.001 <= duration <= rules.max_duration
        if i + 1 < len(cues):
            assert (cues[i + 1].start - cue.end).total_seconds() >= rules.min_gap - 0.001


def test_vtt_and_srt_read_back_by_ffmpeg_and_parsers(finished_job, tmp_path):
    out, job_id, media, _ = finished_job
    base = out / job_id / "subtitles" / media.stem
    vtt = webvtt.read(str(base) + ".en.vtt")
    srt_cues = list(srt.parse(open(f"{base}.en.srt", encoding="utf-8").read()))
    assert [c.text for c in vtt] == [c.content for c in srt_cues]
    for ext in ("srt", "vtt"):
        converted = tmp_path / f"back.{ext}.ass"
        result = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", f"{base}.en.{ext}",
                                 str(converted)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        said = " ".join(c.content for c in srt_cues)  # every word of ours read back, whatever the model heard
        assert said.strip() and recall(said, re.sub(r"\\N|,", " ", converted.read_text())) == 1.0


def test_all_four_formats_and_a_clean_compliance_report(finished_job):
    out, job_id, media, _ = finished_job
    for ext in ("srt", "vtt", "ass", "ttml"):
        assert (out / job_id / "subtitles" / f"{media.stem}.en.{ext}").stat().st_size > 0
    track = json.loads((out / job_id / "subtitles.json").read_text())["tracks"][0]
    assert track["compliance"]["violations"] == 0 and track["compliance"]["short_cues"] == [], track
    assert track["compliance"]["max_cps"] > 0
    status = sh("./run-pipeline.sh", "-j", job_id, "--status", out=out).stdout
    assert f"en (source): {track['cues']} cues, 0 violations" in status, status
    assert f"{media.stem}.en.ttml" in status
    as_json = json.loads(sh("./run-pipeline.sh", "-j", job_id, "--status", "--json", out=out).stdout)
    assert as_json["tracks"][0]["compliance"] == track["compliance"]


def test_rerun_of_finished_job_does_nothing(finished_job):
    out, job_id, _, _ = finished_job
    status_before = (out / job_id / "status.json").read_text()
    run = sh("./run-pipeline.sh", "-j", job_id, out=out)
    assert run.returncode == 0
    assert "complete: nothing to do" in run.stdout
    assert (out / job_id / "status.json").read_text() == status_before
    status = json.loads(sh("./run-pipeline.sh", "-j", job_id, "--status", "--json", out=out).stdout)
    assert [s["state"] for s in status["stages"]] == ["done"] * 7


def test_second_concurrent_run_is_refused(finished_job):
    import fcntl

    out, job_id, _, _ = finished_job
    with open(out / job_id / ".lock", "a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = sh("./run-pipeline.sh", "-j", job_id, "--force", out=out)
    assert run.returncode == 2
    assert "is already running" in run.stderr and "Traceback" not in run.stderr
    # The lock file still names an earlier run (pid 1 here, which is no run-pipeline of this job):
    # the message must not name it.
    with open(out / job_id / ".lock", "w") as holder:
        holder.write("1")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = sh("./run-pipeline.sh", "-j", job_id, "--force", out=out)
    assert "already running (another process)" in run.stderr and "pid 1" not in run.stderr


def test_silence_only_completes_with_empty_subtitles(tmp_path):
    media = tmp_path / "silence.wav"
    silence(media, 5)
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
              "--model", "tiny.en", out=tmp_path / "out")
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert list(srt.parse((tmp_path / "out" / job_id / "subtitles" / "silence.en.srt").read_text())) == []


def test_clip_start_and_end(media_dir, tmp_path):
    media = media_dir / "clip.mp4"
    truth = make(media)
    third = truth["sentences"][2]
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en", "--model",
              "tiny.en", "--start", f"{third['start'] - 0.3:.3f}", "--end", f"{third['end'] + 0.3:.3f}",
              out=tmp_path)
    job_id = prep.stdout.strip().splitlines()[-1]
    assert sh("./run-pipeline.sh", "-j", job_id, out=tmp_path).returncode == 0
    with wave.open(str(tmp_path / job_id / "audio.wav")) as wav:
        duration = wav.getnframes() / wav.getframerate()
    assert duration == pytest.approx(third["end"] - third["start"] + 0.6, abs=0.01)
    text = (tmp_path / job_id / "subtitles" / "clip.en.srt").read_text()
    # the clip holds the third sentence only
    assert recall(third["text"], text) >= 0.6 and recall(truth["sentences"][1]["text"], text) <= 0.2, text


def _no_job_created(out):
    return not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", ["missing", "corrupt", "no-audio", "language", "no-target", "model-lang",
                                  "target-is-source", "vad-engine"])
def test_bad_input_refused_with_one_line_and_nothing_created(case, tmp_path, media_dir):
    out = tmp_path / "out"
    media = tmp_path / "in.mp4"
    args = ["--workflow", "transcribe", "-s", "en"]
    expected = {"missing": "media file not found", "corrupt": "cannot read", "no-audio": "has no audio stream",
                "language": "unknown language 'xx'", "no-target": "needs target languages",
                "model-lang": "understands English only", "target-is-source": "is the spoken language itself",
                "vad-engine": "unknown VAD engine 'bogus'"}[case]
    if case == "corrupt":
        media.write_bytes(b"\x00\x01 definitely not a video" * 100)
    elif case == "no-audio":
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=64x64:rate=5:duration=1", "-pix_fmt", "yuv420p", str(media)], check=True)
    elif case != "missing":
        silence(media.with_suffix(".wav"), 1)
        media = media.with_suffix(".wav")
        args = {"language": ["--workflow", "transcribe", "-s", "xx"],
                "no-target": ["--workflow", "translate", "-s", "hi"],
                "target-is-source": ["--workflow", "subtitle", "-s", "hi", "-t", "hi,hi"],
                "vad-engine": ["--workflow", "transcribe", "-s", "en", "--vad", "bogus"],
                "model-lang": ["--workflow", "transcribe", "-s", "hi", "--model", "tiny.en"]}[case]
    result = sh("./prepare-job.sh", "--media", str(media), *args, out=out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and lines[0].startswith("prepare-job.sh: error:"), result.stderr
    assert _no_job_created(out)


@pytest.mark.parametrize("job_id", ["../etc", "a/b", "..", "bad\x07id", "nope-unknown-job"])
def test_bad_or_unknown_job_id_refused(job_id, tmp_path):
    result = sh("./run-pipeline.sh", "-j", job_id, out=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert ("invalid job id" in result.stderr) or ("no job 'nope-unknown-job'" in result.stderr)
    assert not any(tmp_path.iterdir())


def test_concurrent_prepare_jobs_get_unique_ids(media_dir, tmp_path):
    media = media_dir / "clip.mp4"
    if not media.exists():
        make(media)
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path))
    procs = [subprocess.Popen(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    ids = [p.communicate()[0].strip().splitlines()[-1] for p in procs]
    assert len(set(ids)) == 6 and all((tmp_path / i / "job.json").exists() for i in ids)


def test_killed_mid_stage_resumes_to_the_same_result(finished_job, tmp_path):
    import os
    import signal
    import time

    out, done_id, media, _ = finished_job
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
              "--model", "tiny.en", out=tmp_path)
    job_id = prep.stdout.strip().splitlines()[-1]
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    status_file = tmp_path / job_id / "status.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if status_file.exists() and json.loads(status_file.read_text())["stages"].get("asr", {}).get("state") == "running":
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the run only: its stage must die with it
    proc.wait()
    assert not (tmp_path / job_id / "transcript.json").exists()
    assert not (tmp_path / job_id / "subtitles").exists()
    resumed = sh("./run-pipeline.sh", "-j", job_id, out=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "demux" not in resumed.stdout and "asr ... done" in resumed.stdout  # resumed, not restarted
    name = f"{media.stem}.en.srt"
    assert (tmp_path / job_id / "subtitles" / name).read_text() == (out / done_id / "subtitles" / name).read_text()


def ffprobe_streams(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]


def run_mux(job_path):
    from shared.environment_manager import EnvironmentManager

    log = job_path / "logs" / "mux.log"
    code = EnvironmentManager().run_stage("mux", ["--job", str(job_path)], log_path=log)
    assert code == 0, log.read_text()
    return job_path / json.loads((job_path / "mux.json").read_text())["output"]


def test_mux_into_mp4_as_mov_text_with_language_tag(finished_job, tmp_path):
    out, job_id, media, _ = finished_job
    muxed = run_mux(out / job_id)
    assert muxed.name == f"{media.stem}.subtitled.mp4" and muxed.parent.name == "subtitles"
    streams = ffprobe_streams(muxed)
    source = ffprobe_streams(media)
    assert [s["codec_name"] for s in streams] == [s["codec_name"] for s in source] + ["mov_text"]
    subtitle = streams[-1]
    assert subtitle["tags"]["language"] == "eng"
    assert subtitle["disposition"]["default"] == 1
    back = tmp_path / "back.srt"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(muxed), "-map", "0:s:0", str(back)],
                   check=True)
    ours = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / f"{media.stem}.en.srt").read_text()))
    assert ours.strip() and recall(ours, back.read_text()) == 1.0


def test_mux_into_mkv_targets_first_with_tags_and_titles(finished_job, tmp_path):
    out, job_id, media, _ = finished_job
    mkv = tmp_path / "news.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(media), "-c", "copy", str(mkv)], check=True)
    prep = sh("./prepare-job.sh", "--media", str(mkv), "--workflow", "transcribe", "-s", "en", "--model",
              "tiny.en", out=tmp_path / "out")
    job_path = tmp_path / "out" / prep.stdout.strip().splitlines()[-1]
    assert sh("./run-pipeline.sh", "-j", job_path.name, out=tmp_path / "out").returncode == 0
    # a second track in the manifest shape the translation stage writes, to check order and tags
    target = job_path / "subtitles" / "news.hi.srt"
    target.write_text((job_path / "subtitles" / "news.en.srt").read_text())
    (job_path / "translated_subtitles.json").write_text(json.dumps(
        {"tracks": [{"language": "hi", "role": "target", "cues": 1, "srt": "subtitles/news.hi.srt"}]}))
    muxed = run_mux(job_path)
    assert muxed.suffix == ".mkv"
    subs = [s for s in ffprobe_streams(muxed) if s["codec_type"] == "subtitle"]
    assert [s["codec_name"] for s in subs] == ["subrip", "subrip"]
    assert [s["tags"]["language"] for s in subs] == ["hin", "eng"]
    assert [s["tags"]["title"] for s in subs] == ["Hindi", "English (original)"]
    assert [s["disposition"]["default"] for s in subs] == [1, 0]
    kinds = [s["codec_type"] for s in ffprobe_streams(muxed)]
    assert kinds.count("video") == 1 and kinds.count("audio") == 1


def test_terminal_shows_progress_and_auto_detects_language(finished_job, tmp_path):
    import pexpect

    _, _, media, _ = finished_job
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto",
              "--model", "tiny.en", out=tmp_path)
    job_id = prep.stdout.strip().splitlines()[-1]
    child = pexpect.spawn("./run-pipeline.sh", ["-j", job_id], cwd=str(REPO), encoding="utf-8", timeout=300,
                          env=clean_env(SUBTITLER_OUT_DIR=str(tmp_path), HF_HUB_OFFLINE="1"))
    child.expect(r"\[4/7\] asr \.\.\. (\d+% )?\(\d+ s\)")  # rewritten in place while the stage runs
    child.expect_exact("[4/7] asr ... done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    transcript = json.loads((tmp_path / job_id / "transcript.json").read_text())
    assert transcript["language"] == "en"
    assert (tmp_path / job_id / "subtitles" / f"{media.stem}.en.srt").exists()


def test_from_and_only_rerun_just_what_was_asked(finished_job, tmp_path):
    out, job_id, media, _ = finished_job
    job_path = out / job_id
    audio_mtime = (job_path / "audio.wav").stat().st_mtime_ns
    only = sh("./run-pipeline.sh", "-j", job_id, "--only", "subtitles", out=out)
    assert only.returncode == 0 and "[6/7] subtitles ... done" in only.stdout and "asr" not in only.stdout
    rerun_from = sh("./run-pipeline.sh", "-j", job_id, "--from", "asr", out=out)
    assert rerun_from.returncode == 0
    for step in ("[4/7] asr", "[5/7] speakers", "[6/7] subtitles", "[7/7] review"):
        assert f"{step} ... done" in rerun_from.stdout, rerun_from.stdout
    assert "demux" not in rerun_from.stdout and (job_path / "audio.wav").stat().st_mtime_ns == audio_mtime
    bad = sh("./run-pipeline.sh", "-j", job_id, "--only", "translate", out=out)
    assert bad.returncode == 2 and "'translate' is not a stage of the transcribe workflow" in bad.stderr
    text = sh("./run-pipeline.sh", "-j", job_id, "--status", out=out).stdout
    assert "asr" in text and "done" in text and f"{media.stem}.en.srt" in text


def test_compute_type_is_a_job_override(media_dir, tmp_path):
    media = media_dir / "clip.mp4"
    if not media.exists():
        make(media)
    bad = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
             "--compute-type", "int3", out=tmp_path)
    assert bad.returncode == 2 and "unknown compute type 'int3'" in bad.stderr and not any(tmp_path.iterdir())
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
              "--model", "tiny.en", "--compute-type", "float32", out=tmp_path)
    job = json.loads((tmp_path / prep.stdout.strip().splitlines()[-1] / "job.json").read_text())
    assert job["overrides"]["asr"] == {"model": "tiny.en", "compute_type": "float32"}


def test_glossary_terms_go_to_asr_as_hotwords(media_dir, tmp_path):
    media = media_dir / "clip.mp4"
    if not media.exists():
        make(media)
    terms = tmp_path / "g.tsv"
    terms.write_text("source\ten\nKerala\t\nmonsoon\t\n", encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("words\tmeaning\n", encoding="utf-8")
    refused = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
                 "--glossary", str(bad), out=tmp_path / "out")
    assert refused.returncode == 2 and "bad.tsv:1: the first row must be" in refused.stderr
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en", "--model",
              "tiny.en", "--glossary", str(terms), out=tmp_path / "out")
    job_id = prep.stdout.strip().splitlines()[-1]
    assert sh("./run-pipeline.sh", "-j", job_id, out=tmp_path / "out").returncode == 0
    transcript = json.loads((tmp_path / "out" / job_id / "transcript.json").read_text())
    assert transcript["hotwords"] == "Kerala monsoon"
    assert "Kerala" in " ".join(s["text"] for s in transcript["segments"])


# -- the machine's default model, language detection, the sample with Python and ffmpeg only --------

def tools_only_bin(tmp_path, *tools):
    """A PATH holding only the named programs (and python3): what a fresh machine has."""
    import os
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))  # the base interpreter, not a shim
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def test_sample_needs_only_python_and_ffmpeg(tmp_path):
    env = clean_env(PATH=tools_only_bin(tmp_path, "ffmpeg", "ffprobe"))
    made = subprocess.run([str(REPO / "scripts/make_sample.py"), str(tmp_path / "sample.mp4")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    truth = json.loads((tmp_path / "sample.truth.json").read_text())
    assert len(truth["sentences"]) == 6 and "monsoon" in truth["sentences"][1]["text"]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                            str(tmp_path / "sample.mp4")], capture_output=True, text=True)
    assert sorted(probe.stdout.split()) == ["audio", "video"]
    assert (REPO / "scripts/sample/sample.en.flac").stat().st_size < 1_000_000


@pytest.mark.parametrize("tools,args,package", [
    (("ffmpeg", "ffprobe"), ["--speak"], "espeak-ng"),
    ((), [], "ffmpeg"),
])
def test_a_missing_tool_is_one_line_naming_the_package(tmp_path, tools, args, package):
    env = clean_env(PATH=tools_only_bin(tmp_path, *tools))
    made = subprocess.run([str(REPO / "scripts/make_sample.py"), str(tmp_path / "s.mp4"), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 2
    lines = made.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{package} not found" in lines[0] and f"apt-get install {package}" in lines[0]
    assert not (tmp_path / "s.mp4").exists()


def test_prepare_job_without_ffprobe_says_what_to_install(tmp_path, media_dir):
    media = media_dir / "tools.mp4"
    make(media)
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"), PATH=tools_only_bin(tmp_path, "bash", "dirname",
                                                                                    "tail"))
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert prep.returncode == 2
    assert prep.stderr.strip() == ("prepare-job.sh: error: ffprobe not found: install FFmpeg (Debian/Ubuntu: "
                                   "sudo apt-get install ffmpeg; macOS: brew install ffmpeg) and run the command again")


def test_default_model_detects_english_offline_with_no_flags(tmp_path):
    """The issue's bar: no --model, -s auto, the network cut (unshare -n): English detected, WER <= 0.10."""
    out = tmp_path / "out"
    media = tmp_path / "sample.mp4"
    assert subprocess.run([str(REPO / "scripts/make_sample.py"), str(media)], capture_output=True).returncode == 0
    truth = json.loads(media.with_suffix(".truth.json").read_text())
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto", out=out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    env = clean_env(SUBTITLER_OUT_DIR=str(out))
    env.pop("HF_HUB_OFFLINE", None)
    run = subprocess.run(["unshare", "-n", "./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    hw = json.loads((REPO / "config/hardware_cache.json").read_text())
    from shared.models import catalog

    assert catalog.find(transcript["model"], "asr") == catalog.find(hw["stages"]["asr"]["model"], "asr")
    assert transcript["language"] == "en" and transcript["language_probability"] > 0.5, transcript
    text = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / "sample.en.srt").read_text()))
    wer = word_error_rate(" ".join(s["text"] for s in truth["sentences"]), text)
    print(f"default model {transcript['model']}: WER {wer:.3f}, en p={transcript['language_probability']}")
    assert wer <= 0.10, text


SPANISH = ["Buenos días y bienvenidos a las noticias.", "El río subió lentamente durante la noche.",
           "Las escuelas permanecerán abiertas el lunes."]


def test_auto_detects_spanish_and_transcribes_it_as_spanish(tmp_path, media_dir):
    """A wrong detection breaks this: taken for English, the words come out as English (or noise), and
    the subtitles would be named .en."""
    media = media_dir / "noticias.mp4"
    truth = make(media, lang="es", sentences=SPANISH)
    out = tmp_path / "out"
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto",
              "--model", "base", out=out)
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["language"] == "es" and transcript["language_probability"] > 0.5, transcript
    assert all(s["language"] == "es" for s in transcript["segments"])
    assert not (out / job_id / "subtitles" / "noticias.en.srt").exists()
    text = " ".join(c.content for c in srt.parse((out / job_id / "subtitles" / "noticias.es.srt").read_text()))
    assert recall(" ".join(SPANISH), text) >= 0.6, text
    assert word_error_rate(" ".join(s["text"] for s in truth["sentences"]), text) <= 0.3, text


def test_detection_listens_to_speech_not_to_the_opening(tmp_path):
    """40 s of silence before the Spanish: Whisper's own detector hears only the silence in its first
    30 s; ours takes the speech the VAD found."""
    speech = tmp_path / "speech.wav"
    import make_sample

    make_sample.speak(SPANISH, "es", 1.0, 0.5, speech)
    media = tmp_path / "late.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
                    "-i", str(speech), "-filter_complex", "[0]atrim=0:40[s];[s][1]concat=n=2:v=0:a=1",
                    "-c:a", "pcm_s16le", str(media)], check=True)
    out = tmp_path / "out"
    prep = sh("./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "auto",
              "--model", "base", out=out)
    job_id = prep.stdout.strip().splitlines()[-1]
    assert sh("./run-pipeline.sh", "-j", job_id, out=out).returncode == 0
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    assert transcript["language"] == "es", transcript
    assert transcript["segments"][0]["start"] > 39
