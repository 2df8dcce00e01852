"""The plumbing every other part uses.

config (every setting, path and environment variable, read in one place), errors (the typed errors
a user reads, and the one-line CLI wrapper), files (writes that never leave a half-written file
looking finished), processes, media (ffprobe), languages (codes, names, scripts), scripts (the Unicode script a text is in), schema (the
declared JSON between stages) and scoring (word error rate and recall).

May import: the standard library and third-party packages only; nothing else of ours. Every
module here must import under the system Python (the fronts call config before any venv exists),
so third-party imports stay inside the functions that need them.
"""
