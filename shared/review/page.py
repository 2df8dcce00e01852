"""A job's review page (out/<job-id>/review.html), built from the job's own files only.

What the page holds, all inside it (no CDN, no font or script from elsewhere; it opens from the file
system): the tracks' cues with their flags (cues.<lang>.json, which the subtitles stages write with
the readability rules' own checks, shared/subtitles/rules.cue_flags), the waveform's peaks (computed
here once, from the job's audio), the speech regions, shot changes, regions decoded again and
segments dropped, and a reference to the media: its own file by a path relative to the page, or a
small proxy made by ffmpeg into the job where a browser cannot play the original (an MKV with AC-3,
an AVI...). The page itself is shared/review/template.html; its script reads the data from one JSON
block.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shlex
import subprocess
from pathlib import Path

from shared.core import files, languages, media, schema
from shared.core.errors import UserError
from shared.jobs import job_dirs, tracks, workflows
from shared.review import PAGE
from shared.subtitles.rules import Cue, Rules, cue_flags

TEMPLATE = Path(__file__).with_name("template.html")
PROXY = "review-media.webm"

# What a desktop browser plays (Chromium, Firefox, Safari share these): containers by ffprobe's
# format name, and codecs by ffprobe's codec name. Anything else gets a proxy.
PLAYABLE_CONTAINERS = ("mov", "mp4", "m4a", "matroska", "webm", "ogg", "mp3", "wav", "flac", "aac")
PLAYABLE_VIDEO = {"h264", "vp8", "vp9", "av1", "theora"}
PLAYABLE_AUDIO = {"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_u8", "pcm_f32le", "pcm_s24le",
                  "pcm_s32le"}


def streams(path: Path) -> dict:
    """The container and the first video (not cover art) and audio codec of a media file, by ffprobe."""
    result = subprocess.run([media.tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams",
                             "-show_format", media.argument(path)], capture_output=True, text=True)
    info = json.loads(result.stdout or "{}") if result.returncode == 0 else {}
    found = {"format": (info.get("format") or {}).get("format_name") or "", "video": None, "audio": None}
    for stream in info.get("streams", []):
        kind = stream.get("codec_type")
        if kind == "video" and (stream.get("disposition") or {}).get("attached_pic"):
            continue
        if kind in ("video", "audio") and found[kind] is None:
            found[kind] = stream.get("codec_name")
    return found


def playable(found: dict) -> bool:
    """Whether a browser plays the media as it is (its container and codecs)."""
    containers = set(found["format"].split(","))
    return (bool(containers & set(PLAYABLE_CONTAINERS)) and found["audio"] in PLAYABLE_AUDIO
            and (found["video"] is None or found["video"] in PLAYABLE_VIDEO))


def media_for_page(job: dict, job_path: Path, settings: dict) -> dict | None:
    """How the page plays the job's media: {"src": a path relative to the page, "kind": video or
    audio, "offset": seconds into the file where the job's time 0 is (a clip's start)}. A proxy
    (VP8/Opus WebM, small, cut to the clip) is made when the browser cannot play the original, or
    when settings["proxy"] is "always"; "never" keeps the original whatever it is."""
    if not job.get("media"):
        return None
    source = Path(job["media"])
    if not source.is_file():
        print(f"warning: the media {source} is not there any more: the page has no player "
              "(put it back and run ./run-pipeline.sh -j ID --review)", flush=True)
        return None
    found = streams(source)
    kind = "video" if found["video"] and (job.get("media_info") or {}).get("fps") else "audio"
    wanted = settings["proxy"]
    clip = job.get("clip") or {}
    if wanted == "never" or (wanted == "auto" and playable(found)):
        return {"src": os.path.relpath(source, job_path), "kind": kind, "offset": float(clip.get("start") or 0.0),
                "proxy": False, "codecs": found}
    proxy = job_path / PROXY
    made = proxy.stat().st_mtime if proxy.exists() else 0.0
    if made < source.stat().st_mtime or made < (job_path / "job.json").stat().st_mtime:  # new media, or a new clip
        print(f"progress: making a proxy of {source.name} the browser can play ({PROXY})", flush=True)
        picture = (["-map", "0:v:0", "-vf", f"scale=-2:'min({settings['proxy_height']},ih)'", "-c:v", "libvpx",
                    "-deadline", "realtime", "-cpu-used", "8", "-b:v", settings["proxy_video_bitrate"]]
                   if kind == "video" else ["-vn"])
        media.ffmpeg_to(proxy, [*media.clip_input(job), *picture, "-map", "0:a:0", "-c:a", "libopus", "-b:a", "64k",
                                "-ac", "2", "-f", "webm"],
                        f"could not make a playable proxy of {source.name}")
    return {"src": PROXY, "kind": kind, "offset": 0.0, "proxy": True, "codecs": found}


def peaks(job: dict, job_path: Path, duration: float, settings: dict) -> dict | None:
    """The waveform: the loudest sample of each bin (0-255, bins_per_second a second, fewer for a long
    file so the page stays small), from the job's audio.wav, else decoded from its media."""
    import numpy as np

    wav = job_path / "audio.wav"
    if wav.exists():
        command = [media.tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(wav)]
    elif job.get("media") and Path(job["media"]).is_file():
        command = [media.tool("ffmpeg"), "-nostdin", "-v", "error", *media.clip_input(job), "-vn"]
    else:
        return None
    rate = 8000
    per_second = max(1.0, min(float(settings["peaks_per_second"]), settings["max_peaks"] / max(duration, 1.0)))
    step = max(1, int(rate / per_second))
    process = subprocess.Popen([*command, "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"], stdout=subprocess.PIPE)
    loudest, left = [], np.zeros(0, dtype=np.int16)
    chunk = step * 4096
    while True:
        data = process.stdout.read(chunk * 2)
        if not data:
            break
        samples = np.concatenate([left, np.frombuffer(data, dtype=np.int16)])
        whole = len(samples) // step * step
        if whole:
            loudest.append(np.abs(samples[:whole].astype(np.int32)).reshape(-1, step).max(axis=1))
        left = samples[whole:]
    process.wait()
    if len(left):
        loudest.append(np.abs(left.astype(np.int32)).max(keepdims=True))
    if process.returncode != 0 or not loudest:
        return None
    values = np.concatenate(loudest)
    scaled = np.minimum(255, np.sqrt(values / 32768.0) * 255).astype(np.uint8)  # square root: quiet speech shows
    return {"per_second": rate / step, "data": base64.b64encode(scaled.tobytes()).decode("ascii")}


def _read(path: Path) -> dict | None:
    return schema.read(path) if path.exists() else None


def listed_cues(job: dict, job_path: Path, track: dict, picture: dict) -> list[dict]:
    """A track's cues with their flags: its cues.<lang>.json, or, for a track written before cue lists
    were, its SRT read back and flagged by the same rules."""
    if track.get("cue_list") and (job_path / track["cue_list"]).exists():
        return schema.read(job_path / track["cue_list"])["cues"]
    import pysubs2

    events = [e for e in pysubs2.load(str(job_path / track["srt"]), encoding="utf-8") if not e.is_comment]
    cues = [Cue(e.start / 1000, e.end / 1000, e.plaintext.split("\n")) for e in events]
    rules = Rules.from_settings(workflows.stage_settings(job, "subtitles"), track["language"])
    flags = cue_flags(cues, rules, picture["changes"], picture["fps"])
    return [{"start": c.start, "end": c.end, "lines": c.lines, "speakers": [], "flags": f, "words": []}
            for c, f in zip(cues, flags)]


def _language_name(code: str) -> str:
    try:
        return languages.name(code)
    except KeyError:  # und, or a code the table does not name
        return code


def data(job: dict, job_path: Path, settings: dict) -> dict:
    """Everything the page shows, from the job's files."""
    transcript = _read(job_path / "transcript.json") or {}
    vad = _read(job_path / "vad.json") or {}
    picture = tracks.shots(job_path)
    heard = _read(job_path / "speakers.json")
    found = job_dirs.subtitle_tracks(job_path)
    if not found:
        raise UserError(f"job {job['job_id']} has no subtitles yet: run ./run-pipeline.sh -j {job['job_id']} first")
    order = sorted(found, key=lambda t: t["role"] != "source")  # the source first, then the job's targets
    listed = []
    for track in order:
        cues = listed_cues(job, job_path, track, picture)
        listed.append({"language": track["language"], "role": track["role"],
                       "name": f"{_language_name(track['language'])} ({track['language']})"
                               + (" - source" if track["role"] == "source" else ""),
                       "file": Path(track.get("srt", f"{track['language']}.srt")).name, "cues": cues})
    ends = [c["end"] for t in listed for c in t["cues"]]
    duration = float((job.get("media_info") or {}).get("duration") or transcript.get("duration")
                     or vad.get("duration") or max(ends, default=0.0))
    clip = job.get("clip") or {}
    if clip:
        duration = min(duration, float(clip["end"] if clip.get("end") is not None else duration)) \
            - float(clip.get("start") or 0.0)
    decoding = transcript.get("decoding") or {}
    rules = Rules.from_settings(workflows.stage_settings(job, "subtitles"), job["source_language"])
    return {
        "job_id": job["job_id"], "workflow": job["workflow"], "source": job_dirs.source(job).name,
        "duration": round(max(duration, max(ends, default=0.0)), 3),
        "fps": picture["fps"], "media": media_for_page(job, job_path, settings),
        "peaks": peaks(job, job_path, duration, settings),
        "regions": [[r["start"], r["end"]] for r in vad.get("regions", [])],
        "shots": picture["changes"],
        "redecoded": [{"start": r["start"], "end": r["end"], "why": f"decoded again ({r.get('how', 'alone')}): "
                       f"{r['words_before']} words before, {r['words_after']} after"} for r in decoding.get("redecoded", [])],
        "dropped": [{"start": d["start"], "end": d["end"], "text": d["text"], "why": d["reason"]}
                    for d in transcript.get("dropped", [])],
        "speakers": [{"id": s["id"], "label": s["label"]} for s in (heard or {}).get("speakers", [])],
        "low_confidence": rules.low_confidence, "tracks": listed,
        "reimport": "./prepare-job.sh --subs EDITED.srt" + (f" --media {shlex.quote(job['media'])}"
                                                             if job.get("media") else ""),
    }


def render(page_data: dict) -> str:
    """The page: the template with the data in its JSON block (escaped so no text in it can close
    the script element) and the title."""
    payload = json.dumps(page_data, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    template = TEMPLATE.read_text(encoding="utf-8")
    title = html.escape(f"Review: {page_data['source']} ({page_data['job_id']})")
    return template.replace("__TITLE__", title).replace("__DATA__", payload)


def write(job: dict, job_path: Path, settings: dict) -> Path:
    """review.html in the job directory, written whole (a temporary file renamed into place)."""
    page = job_path / PAGE
    files.write_text_atomic(page, render(data(job, job_path, settings)))
    return page

