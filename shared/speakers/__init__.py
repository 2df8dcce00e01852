"""Who speaks when, inside the speakers stage (stages/speakers.py reads the job and writes speakers.json).

embed (voice embeddings of the speech in short windows, by resemblyzer's GE2E encoder, whose trained
weights ship inside its wheel), cluster (the windows grouped into speakers: agglomerative clustering
of the voices between pauses, as many as the voices show or exactly the number the user gives), assign (each word given the speaker of its own
times, a segment split where the speaker changes, speakers labelled and named in order of first
appearance). The engine's libraries (torch, resemblyzer, scipy) are imported inside the
functions that need them: they live in the speakers venv.

May import: shared.core.
"""
