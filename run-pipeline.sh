#!/usr/bin/env bash
# Run or resume a job: ./run-pipeline.sh -j JOB_ID [--status [--json]] [--from STAGE] [--only STAGE] [--force]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="run-pipeline.sh"
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

python="$(common_python)"
exec_backend "$python" shared.jobs.pipeline "$@"
