"""A job's subtitle tracks: a language's segments as cues, timed to the picture, in every format.

The subtitles and translated_subtitles stages both write their tracks here, so a source track and
a translation follow the same rules (shared/subtitles/rules.py) and land at the same places
(shared/jobs/job_dirs.subtitle_path). The job's shots.json (the shots stage) gives the frame rate
and the cuts the cue edges are moved to.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.core import schema
from shared.jobs import job_dirs
from shared.subtitles import kept, writer
from shared.subtitles.rules import Cue, Rules, build_cues, compliance, cue_flags, to_picture


def shots(job_path: Path) -> dict:
    """The job's shots.json (frame rate and cuts), or none for a job made before the shots stage."""
    path = job_path / "shots.json"
    return schema.read(path) if path.exists() else {"fps": None, "threshold": 0.0, "changes": []}


def kept_cues(segments: list[dict], rules: Rules, lang: str) -> tuple[list[Cue], dict]:
    """Each segment a cue on its own time, as it was (a subs job: the user's file timed them, and
    its translation is laid onto those cues), unless the rules make it change (shared/subtitles/kept.py);
    and what changed: {"input_cues", "output_cues", "kept", "changed": [{"cue": its number, "start",
    "what"}]}. Progress on a long track."""
    out: list[Cue] = []
    changed = []
    step = max(1, len(segments) // 50)
    for number, seg in enumerate(segments, 1):
        cues, what = kept.keep(seg, rules, lang)
        out += cues
        if what:
            changed.append({"cue": number, "start": round(float(seg["start"]), 3), "what": what})
        if number % step == 0 and len(segments) >= 5000:
            print(f"progress: {number * 100 // len(segments)}% of {len(segments)} cues", file=sys.stderr, flush=True)
    return out, {"input_cues": len(segments), "output_cues": len(out), "kept": len(segments) - len(changed),
                 "changed": changed}


def cue_list_path(job_path: Path, lang: str) -> Path:
    """Where a track's cues, with what review.html flags in each, are kept (cues.<lang>.json)."""
    return job_path / f"cues.{lang}.json"


def write_cue_list(path: Path, cues: list[Cue], flags: list[list[dict]], lang: str, role: str,
                   marks: list[dict] = ()) -> None:
    """cues.<lang>.json: each cue as written, its words where the recogniser heard them (with their
    probability; none in a translation or a user's subtitles, whose words have no times of their own) and its
    flags: the readability rules' (`flags`: rules.cue_flags, which compliance() counts) and the
    `marks` a stage adds over a span of time ({"start", "end", "kind", "detail"}: a translation's
    fallback sentences)."""
    listed = []
    for cue, found in zip(cues, flags):
        found = found + [{"kind": m["kind"], "detail": m["detail"]} for m in marks
                         if m["start"] < cue.end and cue.start < m["end"]]
        listed.append({"start": round(cue.start, 3), "end": round(cue.end, 3), "lines": cue.lines,
                       "speakers": [s for s in cue.speakers if s], "flags": found,
                       "words": [{"start": round(w.start, 3), "end": round(w.end, 3), "word": w.text,
                                  "probability": None if w.probability is None else round(w.probability, 3)}
                                 for w in cue.words]
                       if role == "source" and any(w.probability is not None for w in cue.words) else []})
    schema.write(path, {"language": lang, "role": role, "cues": listed})


def write_track(job: dict, job_path: Path, segments: list[dict], lang: str, role: str, settings: dict,
                marks: list[dict] = ()) -> dict:
    """A language's cues, by the readability rules and timed to the picture (or, with keep_cue_times,
    on the segments' own times), in every configured format, and the cue list review.html reads
    (cues.<lang>.json, with `marks`: see write_cue_list); returns the track entry of the job's
    subtitle manifests (language, role, cues, the compliance report, the timing adjustments,
    job-relative path per format and of the cue list)."""
    rules = Rules.from_settings(settings, lang)
    picture = shots(job_path)
    changes = None
    if settings["keep_cue_times"]:
        (cues, changes), adjustments = kept_cues(segments, rules, lang), []
    else:
        cues = build_cues(segments, rules, lang)
        adjustments = to_picture(cues, rules, picture["fps"], picture["changes"])
    flags = cue_flags(cues, rules, picture["changes"], picture["fps"])  # once: the report and the cue list
    track = {"language": lang, "role": role, "cues": len(cues),
             "compliance": compliance(cues, rules, picture["changes"], picture["fps"], flags),
             "timing": {"fps": picture["fps"], "shot_changes": len(picture["changes"]), "adjustments": adjustments}}
    if changes is not None:
        track["changes"] = changes
        if changes["changed"] and role == "source":  # the user's own cues: said on the terminal, kept in status.json
            print(f"warning: {lang}: {changes['kept']} of {changes['input_cues']} cues kept as they were; "
                  f"{len(changes['changed'])} changed (first: cue {changes['changed'][0]['cue']}, "
                  f"{changes['changed'][0]['what']}); the list is in the track's changes", flush=True)
    # karaoke needs each word's own time: the source track's (a translation's words are spread evenly)
    with_karaoke = bool(settings.get("karaoke")) and role == "source"
    # a dialogue track also gets a plain transcript that says who speaks (the formats list may ask for it always)
    formats = list(dict.fromkeys([*settings["formats"], *(["txt"] if any(c.speakers for c in cues) else [])]))
    for fmt in formats:
        path = writer.write(cues, job_dirs.subtitle_path(job, job_path, lang, fmt), fmt, lang, with_karaoke)
        track[fmt] = str(path.relative_to(job_path))
    listed = cue_list_path(job_path, lang)
    write_cue_list(listed, cues, flags, lang, role, marks)
    track["cue_list"] = listed.name
    return track
