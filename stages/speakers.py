"""Speakers: who speaks when, from the voices in the speech; writes speakers.json (docs/segments.md).

Runs after asr, in the speakers venv (torch, resemblyzer, scipy). The speech regions of the
VAD stage are embedded in short windows by the GE2E voice encoder that ships inside resemblyzer's
wheel (shared/speakers/embed.py), the windows clustered into speakers, as many as the voices show or
exactly the number the job gives (cluster.py), and every word of the transcript given the speaker at
its own times, a segment split where the speaker changes (assign.py). The subtitles and translation
stages read the labelled segments from speakers.json. With --speakers-engine pyannote, pyannote's own
diarization pipeline finds the turns instead (shared/speakers/engine_pyannote.py, the whisperx venv,
gated models the user has cached).
"""

from __future__ import annotations

import time

from shared.core import schema
from shared.core.errors import run_cli
from shared.models import catalog
from shared.speakers import assign, cluster, embed, engine_pyannote
from stages._common import stage_args


def main() -> int:
    job_path, job, settings = stage_args("speakers")
    vad = schema.read(job_path / "vad.json")
    transcript = schema.read(job_path / "transcript.json")
    requested = str(settings["count"])
    count = None if requested == "auto" else int(requested)
    window, hop = float(settings["window_seconds"]), float(settings["hop_seconds"])
    began = time.monotonic()
    threads = int(settings.get("threads") or 1)
    if settings["engine"] == "pyannote":
        snapshot = catalog.require(catalog.PYANNOTE_DIARIZATION, "speakers")
        windows, labels = engine_pyannote.turns(snapshot, job_path / "audio.wav", count,
                                                int(settings["max_speakers"]), threads)
    else:
        speech = embed.pieces(vad["regions"], transcript["segments"], float(settings["pause_seconds"]))
        windows, regions, embeddings = embed.embed(job_path / "audio.wav", speech, window, hop, threads)
        seconds_each = [min(hop, w.end - w.start) for w in windows]
        labels = cluster.speakers_of(embeddings, regions, seconds_each, count, settings)
    found = assign.assign(transcript["segments"], windows, [int(x) for x in labels],
                          list(settings.get("names") or []), settings)
    print(f"note: {len(found['speakers'])} speaker(s) from {len(windows)} voice windows in "
          f"{time.monotonic() - began:.1f} s", flush=True)
    if count is not None and len(found["speakers"]) < count:
        print(f"warning: {count} speakers asked, {len(found['speakers'])} heard: the speech has no more voices "
              "that differ", flush=True)
    schema.write(job_path / "speakers.json", {
        "engine": settings["engine"], "requested": requested, "count": len(found["speakers"]),
        "speakers": found["speakers"], "turns": found["turns"], "segments": found["segments"],
        "windows": len(windows), "window_seconds": window, "hop_seconds": hop})
    return 0


if __name__ == "__main__":
    run_cli(main, prog="speakers")
