"""What a job runs: the workflows' stages, what each stage reads and writes, and the one merge of
the settings a stage runs with. A library for run-pipeline (shared/jobs/pipeline.py), prepare-job, the
stages and the benchmarks."""

from __future__ import annotations

from shared.core import config
from shared.models import hardware

WORKFLOWS = {
    "transcribe": ["demux", "shots", "vad", "asr", "speakers", "subtitles", "review"],
    "translate": ["demux", "shots", "vad", "asr", "speakers", "subtitles", "translate", "translated_subtitles",
                  "review"],
    "subtitle": ["demux", "shots", "vad", "asr", "speakers", "subtitles", "translate", "translated_subtitles", "mux",
                 "review"],
    # subtitles a user already has (prepare-job.sh --subs), translated on their own cue times;
    # muxed when the job has media too
    "subs": ["import_subs", "subtitles", "translate", "translated_subtitles", "mux", "review"],
}

# Stages whose process the pipeline may start with the job, held (--held, stages/_common.when_told):
# each loads its model while the stages before it run, and begins when they are done. A stage here
# must wait in when_told before it reads anything those stages write; its "warm_start" setting
# (config/pipeline.json) turns this off.
WARM_STARTS = ("asr",)


def stages_for(workflow: str, media_info: dict | None, speakers: bool = True) -> list[str]:
    """A job's stages: its workflow's, less shots where the media has no picture (audio, or cover
    art only): the subtitles then keep their speech timing without a stage that would find nothing;
    less mux where the job has no media (a subs job given only its subtitle file); less speakers
    with --speakers off."""
    return [s for s in WORKFLOWS[workflow]
            if (s != "shots" or (media_info or {}).get("fps")) and (s != "mux" or media_info)
            and (s != "speakers" or speakers)]


# What each stage reads (job-relative; "@media" is the source file, "@subs" the user's subtitle file,
# "@glossary" the global glossary, "@review_page" the review page's template, so a new version of the page
# makes every job's page stale)
# and the outputs it leaves.
STAGE_IO = {
    "demux": (["@media"], ["audio.wav"]),
    "shots": (["@media"], ["shots.json"]),
    "import_subs": (["@subs"], ["transcript.json"]),
    "vad": (["audio.wav"], ["vad.json"]),
    "asr": (["audio.wav", "vad.json", "glossary.tsv", "@glossary"], ["transcript.json"]),
    "speakers": (["audio.wav", "vad.json", "transcript.json"], ["speakers.json"]),
    "subtitles": (["transcript.json", "speakers.json", "shots.json"], ["subtitles.json"]),
    "translate": (["transcript.json", "speakers.json", "glossary.tsv", "@glossary"], ["translations.json"]),
    "translated_subtitles": (["translations.json", "shots.json"], ["translated_subtitles.json"]),
    "mux": (["@media", "subtitles.json", "translated_subtitles.json"], ["mux.json"]),
    # the page reads what every stage before it left (a file a workflow does not make is absent)
    "review": (["@media", "@review_page", "audio.wav", "vad.json", "shots.json", "transcript.json", "speakers.json", "subtitles.json",
                "translations.json", "translated_subtitles.json", "mux.json"], ["review.html"]),
}


def speakers(job_path) -> dict | None:
    """speakers.json, where the speakers stage ran and heard more than one voice (one speaker's label
    on every cue would say nothing): its segments, with a speaker on each segment and word, are what
    the stages after asr read in place of the transcript's."""
    from shared.core import schema

    path = job_path / "speakers.json"
    found = schema.read(path) if path.exists() else None
    return found if found and found["count"] > 1 else None


def stage_settings(job: dict, stage: str) -> dict:
    """The one merge of settings a stage runs with: hardware choice, pipeline defaults, job overrides."""
    settings = dict(config.pipeline_defaults().get(stage, {}))
    settings.update(hardware.stage_settings(stage))
    settings.update({k: v for k, v in job.get("overrides", {}).get(stage, {}).items() if v is not None})
    return settings
