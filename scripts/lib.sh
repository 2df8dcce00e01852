# shellcheck shell=bash
# Helpers the bash fronts source: find an interpreter, then exec the Python backend. No logic here.
# The caller sets REPO_ROOT and PROG before sourcing.

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 2
}

# The system Python that builds the venvs: $PYTHON if set, else the newest python3 on PATH; 3.10+.
find_system_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10; do
    [[ -n "$candidate" ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  local found="none"
  if command -v python3 >/dev/null 2>&1; then
    found="$(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo unknown)"
  fi
  die "Python 3.10 or newer is required (python3 found: $found): install it, or set PYTHON=/path/to/python3.11"
}

# The common venv's interpreter, which runs every front but bootstrap (shared/core/config.py knows where
# the venvs live and whether one is built; it says how to build one that is not).
common_python() {
  local system
  system="$(find_system_python)"
  SUBTITLER_PROG="$PROG" PYTHONPATH="$REPO_ROOT" "$system" -m shared.core.config --venv-python common || exit 2
}

# exec a backend module with the repository on the import path, from the user's own directory
# (relative paths on the command line keep their meaning).
exec_backend() {
  local python="$1" module="$2"
  shift 2
  PYTHONPATH="$REPO_ROOT" exec "$python" -m "$module" "$@"
}
