"""The stage-to-stage data, declared once (documented in docs/segments.md).

vad.json:         {"sampling_rate": 16000, "duration": s, "regions": [{"start": s, "end": s}]}
transcript.json:  Transcript below: segments with their words, times in seconds from the start of
                  the job's audio (the clip start, when the job has one).
"""

from __future__ import annotations

from typing import List, Optional, TypedDict


class Word(TypedDict):
    start: float
    end: float
    word: str           # as the model wrote it, with its leading space
    probability: float


class Segment(TypedDict):
    id: int
    start: float
    end: float
    text: str
    language: str
    words: List[Word]


class Transcript(TypedDict):
    language: Optional[str]            # ISO 639-1; detected when the job said auto
    language_probability: Optional[float]
    duration: float
    engine: str
    model: str
    segments: List[Segment]


class Region(TypedDict):
    start: float
    end: float
