#!/usr/bin/env bash
# Fetch models into the project cache so every later run is offline.
# Usage: ./cache-models.sh --all | --indictrans2 | --nllb | --whisperx | --mlx | --list | --status | --help
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="cache-models.sh"
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

python="$(common_python)"
exec_backend "$python" shared.setup.cache_models "$@"
