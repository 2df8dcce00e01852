"""Set-up: the backends of bootstrap.sh (venvs, the hardware table, the embedded models registered
in the cache) and cache-models.sh (fetch, verify, export, import and prune models).

May import: shared.core, shared.models, shared.subtitles, shared.translation, shared.jobs,
shared.environment_manager: everything else in shared/. bootstrap runs under the system Python,
before any venv: what it imports at module level uses only the standard library.
"""
