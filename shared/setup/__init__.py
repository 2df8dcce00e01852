"""Set-up: the backends of bootstrap.sh (venvs, the hardware table, the embedded models registered
in the cache) and cache-models.sh (fetch, verify, export, import and prune models).

May import: everything else in shared/. bootstrap runs under the system Python, before any venv:
it imports only the standard library at module level.
"""
