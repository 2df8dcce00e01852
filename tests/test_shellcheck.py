"""Every bash file in the repository passes shellcheck."""

import shutil
import subprocess

import pytest

from conftest import REPO, repo_files


def bash_files() -> list[str]:
    """*.sh, .ci/run, and any other file whose first line is a bash shebang."""
    found = []
    for name in repo_files():
        with open(REPO / name, "rb") as handle:
            first = handle.readline()
        if name.endswith(".sh") or name == ".ci/run" or (first.startswith(b"#!") and b"bash" in first):
            found.append(name)
    return found


def test_there_are_bash_fronts():
    files = bash_files()
    for front in ("bootstrap.sh", "cache-models.sh", ".ci/run", "scripts/lib.sh"):
        assert front in files


@pytest.mark.parametrize("name", bash_files())
def test_shellcheck_clean(name):
    assert shutil.which("shellcheck"), "shellcheck is missing: .ci/run installs it with apt-get"
    result = subprocess.run(["shellcheck", "-x", "-f", "gcc", name], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", [n for n in bash_files() if n != "scripts/lib.sh"])
def test_strict_mode(name):
    text = (REPO / name).read_text()
    assert "set -euo pipefail" in text
