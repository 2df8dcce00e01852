"""Translated subtitles: each target language's translation as readable cues, SRT and WebVTT.

The translation carries sentence time spans, not word times; the same readability rules as the
source subtitles cut each sentence into cues, spreading its words over the span.
translated_subtitles.json lists the tracks in the job's target order.
"""

from __future__ import annotations

import json

from shared import pipeline, subtitle_writer
from shared.errors import run_cli
from shared.files import write_json_atomic
from stages._common import stage_args


def main() -> int:
    job_path, job, _ = stage_args("translated_subtitles")
    settings = pipeline.stage_settings(job, "subtitles")
    tracks = []
    for target in job["target_languages"]:
        translated = json.loads((job_path / f"translation.{target}.json").read_text())
        tracks.append(subtitle_writer.write_track(job, job_path, translated["segments"], target, "target", settings))
    write_json_atomic(job_path / "translated_subtitles.json", {"tracks": tracks})
    return 0


if __name__ == "__main__":
    run_cli(main, prog="translated_subtitles")
