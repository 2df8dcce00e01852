"""Translated subtitles: each target language's translation as readable cues, SRT and WebVTT.

The translation carries sentence time spans, not word times; the same readability rules as the
source subtitles cut each sentence into cues, spreading its words over the span.
translated_subtitles.json lists the tracks in the job's target order.
"""

from __future__ import annotations

from shared.core import schema
from shared.core.errors import run_cli
from shared.jobs import tracks, workflows
from stages._common import stage_args


def main() -> int:
    job_path, job, _ = stage_args("translated_subtitles")
    settings = workflows.stage_settings(job, "subtitles")
    record = schema.read(job_path / "translations.json") if (job_path / "translations.json").exists() else {}
    fell = (record.get("llm") or {}).get("fallbacks", {})
    written = []
    for target in job["target_languages"]:
        translated = schema.read(job_path / f"translation.{target}.json")
        marks = [{"start": f["start"], "end": f["end"], "kind": "translation_fallback",
                  "detail": f"sentences {f['first']}-{f['last']} by the MT model: {f['reason']}"}
                 for f in fell.get(target, []) if "start" in f]
        written.append(tracks.write_track(job, job_path, translated["segments"], target, "target", settings, marks))
    schema.write(job_path / "translated_subtitles.json", {"tracks": written})
    return 0


if __name__ == "__main__":
    run_cli(main, prog="translated_subtitles")
