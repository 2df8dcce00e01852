"""What a job runs: the workflows' stages, what each stage reads and writes, and the one merge of
the settings a stage runs with. A library for run-pipeline (shared/jobs/pipeline.py), prepare-job, the
stages and the benchmarks."""

from __future__ import annotations

from shared.core import config
from shared.models import hardware

WORKFLOWS = {
    "transcribe": ["demux", "shots", "vad", "asr", "speakers", "subtitles"],
    "translate": ["demux", "shots", "vad", "asr", "speakers", "subtitles", "translate", "translated_subtitles"],
    "subtitle": ["demux", "shots", "vad", "asr", "speakers", "subtitles", "translate", "translated_subtitles", "mux"],
    # subtitles a user already has (prepare-job.sh --subs), translated on their own cue times;
    # muxed when the job has media too
    "subs": ["import_subs", "subtitles", "translate", "translated_subtitles", "mux"],
}


def stages_for(workflow: str, media_info: dict | None, speakers: bool = True) -> list[str]:
    """A job's stages: its workflow's, less shots where the media has no picture (audio, or cover
    art only): the subtitles then keep their speech timing without a stage that would find nothing;
    less mux where the job has no media (a subs job given only its subtitle file); less speakers
    with --speakers off."""
    return [s for s in WORKFLOWS[workflow]
            if (s != "shots" or (media_info or {}).get("fps")) and (s != "mux" or media_info)
            and (s != "speakers" or speakers)]


# What each stage reads (job-relative; "@media" is the source file, "@subs" the user's subtitle file,
# "@glossary" the global glossary)
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
}


def spoken(job_path) -> list[dict]:
    """The transcript's segments as the stages after asr read them: with a speaker on each segment
    and word, split where the speaker changes, when the speakers stage ran (speakers.json) and heard
    more than one voice (one speaker's label on every cue would say nothing)."""
    from shared.core import schema

    labelled = job_path / "speakers.json"
    if labelled.exists():
        found = schema.read(labelled)
        if found["count"] > 1:
            return found["segments"]
    return schema.read(job_path / "transcript.json")["segments"]


def stage_settings(job: dict, stage: str) -> dict:
    """The one merge of settings a stage runs with: hardware choice, pipeline defaults, job overrides."""
    settings = dict(config.pipeline_defaults().get(stage, {}))
    settings.update(hardware.stage_settings(stage))
    settings.update({k: v for k, v in job.get("overrides", {}).get(stage, {}).items() if v is not None})
    return settings
