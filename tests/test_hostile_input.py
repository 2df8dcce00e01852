"""Every argument of the fronts, given hostile values (Hypothesis): each either works or is refused
with one line on stderr and exit status 2; never a traceback, never a job made from a bad request.

The fronts are thin bash wrappers that exec these Python entry points (shared/jobs/prepare.py,
shared/jobs/pipeline.py, shared/setup/cache_models.py); the properties run prepare-job and run-pipeline
in-process for speed, through the same run_cli wrapper; cache-models and a few cases at the end go
through the bash fronts themselves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import REPO, clean_env
from shared.core import config
from shared.core.errors import run_cli
from shared.jobs import job_dirs, pipeline, prepare
from shared.setup import bootstrap

SAMPLE = str(REPO / "scripts" / "sample" / "sample.en.flac")

# Text a shell can pass as one argument (no NUL), plus the classics.
HOSTILE = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
    st.sampled_from(["", " ", "-1", "0", "nan", "NaN", "inf", "-inf", "1e999", "99:99:99", "00:00:-1", "1:2:3:4",
                     "::", "../../etc/passwd", "/", ".", "-", "--", "auto", "en,", ",,", "x" * 300, "हिन्दी",
                     "\n", "a\tb", "en-", "zz", "😀", "१२:३०", "--help"]),
)
# Derandomized, so CI sees the same examples every run; HOSTILE_EXPLORE=N explores N random ones instead.
EXPLORE = int(os.environ.get("HOSTILE_EXPLORE", "0"))
FAST = settings(max_examples=EXPLORE or 40, derandomize=not EXPLORE, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def call(main, argv: list[str], prog: str, capsys, monkeypatch) -> tuple[int, str]:
    """Run an entry point as its front would; its exit status and stderr."""
    monkeypatch.setattr(sys, "argv", [prog, *argv])
    with pytest.raises(SystemExit) as exited:
        run_cli(main, prog=prog)
    code = exited.value.code if isinstance(exited.value.code, int) else (0 if exited.value.code is None else 2)
    return code, capsys.readouterr().err


def refused_in_one_line(code: int, err: str) -> bool:
    if code == 0:
        return False
    assert code == 2, err
    assert "Traceback" not in err, err
    assert sum(1 for line in err.splitlines() if "error:" in line) == 1, err
    return True


@pytest.fixture
def out(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBTITLER_OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "out"


BASE = {"--media": SAMPLE, "--workflow": "transcribe", "-s": "en"}


@pytest.mark.parametrize("flag", ["--media", "--workflow", "-s", "-t", "--start", "--end", "--engine", "--vad",
                                  "--model", "--compute-type", "--translator", "--translate-backend",
                                  "--glossary", "--job-id"])
@FAST
@given(value=HOSTILE)
@example(value="nan")
@example(value="1e999")
@example(value="job\n")
@example(value="job\x1b[2J")
def test_prepare_job_refuses_or_works(out, capsys, monkeypatch, flag, value):
    args = {**BASE, flag: value}
    if flag == "-t":
        args["--workflow"] = "translate"
    before = set(out.iterdir()) if out.exists() else set()
    code, err = call(prepare.main, [a for pair in args.items() for a in pair], "prepare-job.sh", capsys,
                     monkeypatch)
    made = (set(out.iterdir()) if out.exists() else set()) - before
    if refused_in_one_line(code, err):
        assert not made, "a refused request left a job behind"
    else:
        batches = out / "batches"
        if batches in made:  # a folder: a batch, its manifest and a job per media file in it
            made.discard(batches)
            assert made and len(list(batches.iterdir())) == 1
        else:
            assert len(made) == 1
        for path in made:
            assert path.name.isprintable(), f"a job directory named {path.name!r}"  # no control character
            job = job_dirs.load_job(path)  # what was made has the declared shape
            clip = job["clip"]
            assert clip["start"] == clip["start"] and clip["start"] >= 0  # no NaN, no negative time
            assert clip["end"] is None or clip["start"] < clip["end"] < float("inf")


@pytest.fixture
def job_id(out, capsys, monkeypatch):
    code, err = call(prepare.main, [a for pair in BASE.items() for a in pair], "prepare-job.sh", capsys,
                     monkeypatch)
    assert code == 0, err
    return next(out.iterdir()).name


@pytest.mark.parametrize("flag", ["-j", "--from", "--only"])
@FAST
@given(value=HOSTILE)
def test_run_pipeline_refuses_or_works(job_id, capsys, monkeypatch, flag, value):
    argv = ["-j", value] if flag == "-j" else ["-j", job_id, flag, value]
    if flag != "-j":
        argv.append("--status")  # a valid stage name only shows the status: nothing runs here
    code, err = call(pipeline.main, argv, "run-pipeline.sh", capsys, monkeypatch)
    refused_in_one_line(code, err)


@pytest.mark.parametrize("flag", ["--model", "--remove", "--import"])
@settings(max_examples=EXPLORE or 12, derandomize=not EXPLORE, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HOSTILE)
def test_cache_models_refuses_or_works(tmp_path, flag, value):
    """Through the bash front (cache-models resolves hub repo names with huggingface_hub, which only
    the common venv has), offline, in an empty cache."""
    argv = ["./cache-models.sh", flag, value] + (["--dry-run"] if flag == "--model" else [])
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120,
                            env=clean_env(SUBTITLER_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1"))
    refused_in_one_line(result.returncode, result.stderr)


@pytest.mark.parametrize("flag", ["--with", "--only"])
@FAST
@given(value=HOSTILE)
def test_bootstrap_refuses_unknown_venvs_before_doing_anything(capsys, monkeypatch, flag, value):
    names = [v.strip() for v in value.split(",") if v.strip()]
    assume(names and any(n not in config.venv_map()["venvs"] for n in names))  # valid lists would build
    code, err = call(bootstrap.main, [flag, value, "--skip-cache"], "bootstrap.sh", capsys, monkeypatch)
    assert refused_in_one_line(code, err) and "[1/5]" not in err


@pytest.mark.parametrize("value", ["", " ", "\n", "/dev/null/cache", "/proc/1/nope", "x" * 300 + "/y"])
def test_bootstrap_refuses_a_cache_dir_it_cannot_use_before_doing_anything(capsys, monkeypatch, value):
    code, err = call(bootstrap.main, ["--cache-dir", value, "--skip-cache"], "bootstrap.sh", capsys, monkeypatch)
    assert refused_in_one_line(code, err) and "cache-dir" in err


@pytest.mark.parametrize("argv", [
    ["./prepare-job.sh", "--media", SAMPLE, "--workflow", "transcribe", "-s", "en", "--start", "nan"],
    ["./prepare-job.sh", "--media", SAMPLE, "--workflow", "transcribe", "-s", "\u202eoops"],
    ["./run-pipeline.sh", "-j", "../../etc"],
    ["./cache-models.sh", "--import", "/"],
])
def test_the_bash_fronts_pass_hostile_values_through_to_one_line(tmp_path, argv):
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                            env=clean_env(SUBTITLER_OUT_DIR=str(tmp_path / "out"), HF_HUB_OFFLINE="1",
                                          SUBTITLER_CACHE_DIR=str(tmp_path / "cache")))
    assert refused_in_one_line(result.returncode, result.stderr)


def test_a_media_file_named_like_an_option_is_a_file(out, tmp_path, capsys, monkeypatch):
    """--media=-clip.wav, relative: every tool gets it as a path, never as an option."""
    import shutil

    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "-clip.flac")
    monkeypatch.chdir(folder)
    code, err = call(prepare.main, ["--media=-clip.flac", "--workflow", "transcribe", "-s", "en"], "prepare-job.sh",
                     capsys, monkeypatch)
    assert code == 0, err
    job = job_dirs.load_job(next(out.iterdir()))
    assert job["media"] == str(folder / "-clip.flac") and job["media_info"]["duration"] > 1


def test_control_characters_never_reach_a_file_name():
    from pathlib import Path

    job = {"media": "/in/news\nat ten\x1b.en.mp4"}
    path = job_dirs.subtitle_path(job, Path("/out/job"), "hi", "srt")
    assert path.name == "news_at ten_.hi.srt" and path.name.isprintable()
    assert job_dirs.stem(Path("a\tb.mkv")) == "a_b"


def test_output_piped_into_a_reader_that_stops_early_is_no_error():
    """`./run-pipeline.sh -j JOB | head -2`: the reader goes after two lines. BrokenPipeError is an
    OSError, and the one-line mapping of OS errors must not turn it into a traceback."""
    program = ("import sys; sys.path.insert(0, sys.argv[1]); from shared.core.errors import run_cli\n"
               "def main():\n"
               "    for n in range(200000):\n"
               "        print('line', n, flush=True)\n"
               "run_cli(main, prog='run-pipeline.sh')\n")
    proc = subprocess.Popen([sys.executable, "-c", program, str(REPO)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert first == b"line 0\n"
    assert stderr == ""
