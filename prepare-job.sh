#!/usr/bin/env bash
# Create a job: ./prepare-job.sh --media FILE --workflow transcribe|translate|subtitle -s LANG [-t LANG,...]
# The job id is printed alone on the last line.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="prepare-job.sh"
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

python="$(common_python)"
exec_backend "$python" shared.jobs.prepare "$@"
