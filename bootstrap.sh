#!/usr/bin/env bash
# One-time set-up: per-stage venvs, hardware detection, embedded model, optional model caching.
# Usage: ./bootstrap.sh [--cache-models | --skip-cache] [--with LIST] [--only LIST] [--force] [--help]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="bootstrap.sh"
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

python="$(find_system_python)"
exec_backend "$python" shared.setup.bootstrap "$@"
