"""The stage-to-stage data, declared once (documented in docs/segments.md).

vad.json:         {"sampling_rate": 16000, "duration": s, "regions": [{"start": s, "end": s}]}
transcript.json:  Transcript below: segments with their words, times in seconds from the start of
                  the job's audio (the clip start, when the job has one).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict, Union, get_args, get_origin, get_type_hints

from shared.errors import UserError


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


class Job(TypedDict, total=False):
    """job.json, written by prepare-job.sh (job_id, media, workflow, stages and languages always)."""
    job_id: str
    created: str
    media: str
    media_info: Dict[str, Any]
    workflow: str
    source_language: str
    target_languages: List[str]
    clip: Dict[str, Any]
    overrides: Dict[str, Dict[str, Any]]
    stages: List[str]
    fallbacks: Dict[str, Any]


JOB_REQUIRED = ("job_id", "media", "workflow", "stages", "source_language", "target_languages")


class StageRecord(TypedDict, total=False):
    state: str
    started: Optional[str]
    finished: Optional[str]
    seconds: Optional[float]
    fingerprint: str
    exit_code: int
    venv: str
    engine: str
    warnings: List[str]
    rebuilt: bool


class Status(TypedDict):
    """status.json, written by run-pipeline.sh: one record per stage run."""
    stages: Dict[str, StageRecord]


def problem(value: Any, shape: Any, where: str = "") -> Optional[str]:
    """Where `value` departs from the declared `shape` (a TypedDict or a typing form), or None."""
    origin = get_origin(shape)
    if shape is Any:
        return None
    if origin is Union:
        found = [problem(value, option, where) for option in get_args(shape)]
        return None if None in found else found[0]
    if shape is type(None):
        return None if value is None else f"{where or 'value'} should be null"
    if isinstance(shape, type) and issubclass(shape, dict) and hasattr(shape, "__annotations__"):
        if not isinstance(value, dict):
            return f"{where or 'the file'} should be an object, not {type(value).__name__}"
        for key, hint in get_type_hints(shape).items():
            if key in value:
                found = problem(value[key], hint, f"{where}.{key}" if where else key)
                if found:
                    return found
        return None
    if origin in (list, List):
        if not isinstance(value, list):
            return f"{where} should be a list"
        for index, item in enumerate(value):
            found = problem(item, get_args(shape)[0], f"{where}[{index}]")
            if found:
                return found
        return None
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            return f"{where} should be an object"
        for key, item in value.items():
            found = problem(item, get_args(shape)[1], f"{where}.{key}")
            if found:
                return found
        return None
    if shape is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    return None if ok else f"{where} should be {shape.__name__}, not {type(value).__name__}"


def check(value: Any, shape: Any, name: str, required: tuple = (), fix: str = "") -> Any:
    """`value` when it has the declared shape, else a UserError naming the file, the fault and
    (`fix`) what to do."""
    found = problem(value, shape)
    if found is None and isinstance(value, dict):
        missing = [key for key in required if key not in value]
        found = f"it lacks {', '.join(missing)}" if missing else None
    if found:
        raise UserError(f"{name} is damaged ({found})" + (f": {fix}" if fix else ""))
    return value
