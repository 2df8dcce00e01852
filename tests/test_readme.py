"""The README's test command is the one CI runs, and its set-up commands name real flags."""

import re
import subprocess

from conftest import REPO, clean_env


def readme_block(marker: str) -> str:
    readme = (REPO / "README.md").read_text()
    block = re.search(rf"<!-- {marker} -->\s*```(?:bash)?\n(.+?)\n```", readme, re.S)
    assert block, f"README.md must mark a command with <!-- {marker} -->"
    return block.group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = readme_block("test-command")
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_main_command_transcribes_the_sample_offline(tmp_path):
    """The command a new user runs: set up (already done here, so it reuses everything), make the
    sample, prepare the job, run it, all offline with the embedded model."""
    env = clean_env(SUBTITLER_OUT_DIR=str(tmp_path), HF_HUB_OFFLINE="1")
    result = subprocess.run(["bash", "-c", f"set -euo pipefail; {readme_block('main-command')}"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    srt_files = list(tmp_path.glob("*/subtitles/sample.en.srt"))
    assert len(srt_files) == 1 and "monsoon" in srt_files[0].read_text().lower()
