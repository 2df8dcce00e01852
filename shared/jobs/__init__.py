"""Jobs: a job's directory, its workflow, and the runs that carry it out.

job_dirs (job ids, job.json, where each output lands), workflows (a workflow's stages and each
stage's inputs, outputs and settings), prepare (prepare-job.sh), pipeline (run-pipeline.sh: stage by
stage, each in its venv, resumable, locked), tracks (a language's subtitle files, written for a job),
batches (many jobs at once in worker processes) and ray_batch (the same jobs as Ray tasks).

May import: shared.core, shared.models, shared.subtitles, shared.translation,
shared.environment_manager.
"""
