"""The Python backend of the bash fronts, grouped by what each part is about.

    core/         the plumbing every part uses: settings and paths, errors, safe file writes,
                  subprocesses, media probing, languages, the stage-to-stage JSON schema, scoring
    models/       the model catalog, the project cache in the hub's layout, conversions, and the
                  hardware table that says which model and settings each stage gets on this machine
    asr/          speech recognition inside the asr stage: windows, decoding and its coverage check,
                  the guard against text where nobody speaks, and one module per engine
    subtitles/    cue rules (readability, line breaks, where a sentence ends), reading and writing
                  subtitle files
    translation/  what text goes to which translator (the plan), glossaries, LLM providers
    jobs/         a job's directory, its workflows, prepare-job, the pipeline that runs it, batches
    setup/        bootstrap.sh and cache-models.sh
    environment_manager.py   the one place that starts a stage in its venv (its path is fixed by
                  the design)

Each package says in its __init__ what it may import; tests/test_layout.py holds the tree to it.
docs/architecture.md tells how a job flows through them.
"""
