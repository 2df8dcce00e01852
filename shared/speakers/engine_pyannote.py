"""pyannote's speaker diarization pipeline (speaker-diarization-community-1, pyannote.audio 4), the
speakers stage's second engine, in the whisperx venv (which carries pyannote.audio).

Its models are gated on the hub: a user with a token fetches them once (./cache-models.sh --model
pyannote-speaker-diarization-community-1, HF_TOKEN set), and from then on it runs offline: the cached
snapshot is handed to pyannote.audio as a local directory, whose config names its segmentation,
embedding and PLDA by subfolder, so nothing is asked of the hub. (pyannote.audio 4 builds every
diarization pipeline, 3.1 included, with community-1's PLDA: that is why community-1 is the one here.)
Its telemetry is switched off.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.speakers.embed import Window, read_wav


def turns(snapshot: Path, audio_path: Path, count: int | None, most: int,
          threads: int) -> tuple[list[Window], list[int]]:
    """(windows, labels): each speaker turn pyannote found (its exclusive diarization: one speaker at a
    time, as words are given), with its speaker's number."""
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
    import torch
    from pyannote.audio import Pipeline

    torch.set_num_threads(max(1, threads))
    pipeline = Pipeline.from_pretrained(str(snapshot))
    samples = torch.from_numpy(read_wav(audio_path)).unsqueeze(0)
    asked = {"num_speakers": count} if count else {"max_speakers": most}
    found = pipeline({"waveform": samples, "sample_rate": 16000}, **asked)
    annotation = getattr(found, "exclusive_speaker_diarization", None) or getattr(found, "speaker_diarization", found)
    windows, labels, names = [], [], {}
    for segment, _, speaker in annotation.itertracks(yield_label=True):
        windows.append(Window(float(segment.start), float(segment.end)))
        labels.append(names.setdefault(speaker, len(names)))
    return windows, labels
