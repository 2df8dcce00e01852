"""The README's test command is the one CI runs, and its set-up commands name real flags."""

import re

from conftest import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:bash)?\n(.+?)\n```", readme, re.S)
    assert block, "README.md must mark its test command with <!-- test-command -->"
    command = block.group(1).strip()
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert command in ci_lines
