"""The files stages hand each other, declared once: every writer and reader goes through read() and
write() here, which check the data against its declared shape. docs/segments.md's tables are made
from these declarations (`python -m shared.core.schema --docs` rewrites them; a test fails when they drift).

A file that departs from its shape on read is a one-line UserError that names the stage to run again
(a reader never meets a KeyError deep inside a stage). A writer that departs from it is a bug in the
project and raises ValueError with the fault.
"""


import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import (Any, Dict, List, Literal, NotRequired, Optional, TypedDict, Union, get_args, get_origin,
                    get_type_hints)

from shared.core.errors import UserError

# -- the shapes ---------------------------------------------------------------------------------------


class Region(TypedDict):
    start: float
    end: float


class Vad(TypedDict):
    """Speech regions, seconds."""
    sampling_rate: int
    duration: float
    engine: str
    regions: List[Region]


class Word(TypedDict):
    start: float
    end: float
    word: str                       # as the model wrote it, with its leading space
    probability: Optional[float]
    speaker: NotRequired[str]       # the speaker's label (speakers.json), where the speakers stage ran


class Segment(TypedDict):
    id: int
    start: float
    end: float
    text: str
    language: Optional[str]
    words: List[Word]
    speaker: NotRequired[str]


class Dropped(TypedDict):
    start: float
    end: float
    text: str
    reason: str


class Redecoded(TypedDict):
    """A stretch the coverage check found short, decoded again (shared/asr/coverage.py)."""
    start: float
    end: float
    words_before: int
    words_after: int
    how: NotRequired[str]           # "packed" (with the other short stretches) or "alone"


class ScriptFix(TypedDict):
    """A segment written in a script its language is not (shared/asr/script_check.py)."""
    start: float
    end: float
    found: str                      # the ISO 15924 script it came out in
    expected: List[str]
    reason: str
    action: str                     # decoded again with the language forced, or kept
    text_before: str
    text_after: Optional[str]
    prompted: bool                  # decoded again after the job's own text in the right script


class Decoding(TypedDict):
    windows: int
    redecoded: List[Redecoded]
    recovery_windows: NotRequired[int]   # windows of short stretches packed together, decoded again
    decoded_alone: NotRequired[int]      # stretches still short after that, decoded each alone
    script: NotRequired[List[ScriptFix]]


class AsrRoute(TypedDict):
    """The Whisper model that heard the job, and why (shared/models/asr_routes.py)."""
    model: str
    why: str


class SpeechTranslation(TypedDict):
    """--translator whisper: Whisper's translate task on the same windows, into English."""
    language: str
    task: str
    model: str
    source_language: Optional[str]
    segments: List[Segment]
    decoding: Decoding
    dropped: List[Dropped]


class Transcript(TypedDict):
    """Segments with their words; what the guard dropped; how the windows were decoded. A translation has the same shape: one segment per sentence, no word times."""
    language: Optional[str]
    language_probability: Optional[float]
    duration: float
    engine: str
    model: str
    segments: List[Segment]
    hotwords: NotRequired[Optional[str]]
    decoding: NotRequired[Decoding]
    dropped: NotRequired[List[Dropped]]
    aligned: NotRequired[bool]
    route: NotRequired[AsrRoute]
    speech_translation: NotRequired[SpeechTranslation]


class Speaker(TypedDict):
    id: str                         # S1, S2... in order of first appearance
    label: str                      # what subtitles show: a name given with --speaker-names, else "Speaker N"
    seconds: float                  # speech heard from this speaker
    words: int
    first: float                    # when the speaker is first heard


class Turn(TypedDict):
    start: float
    end: float
    speaker: str                    # a label


class Speakers(TypedDict):
    """Who speaks when: the speakers found (labelled in order of first appearance), their turns, and the transcript's segments with a speaker on each segment and word, split where the speaker changes (what subtitles and translation read)."""
    engine: str
    requested: str                  # "auto" or the number the user gave
    count: int
    speakers: List[Speaker]
    turns: List[Turn]
    segments: List[Segment]
    windows: int                    # voice windows embedded
    window_seconds: float
    hop_seconds: float


class ShortCue(TypedDict):
    start: float
    end: float
    text: str


class Compliance(TypedDict):
    cues: int
    max_cps: float
    cues_over_cps: int
    lines_over_limit: int
    cues_over_lines: int
    cues_over_duration: int
    short_cues: List[ShortCue]
    shot_change_crossings: int
    violations: int
    two_speaker_cues: NotRequired[int]


class Shots(TypedDict):
    """The picture's frame rate and its cuts (seconds); null and none for audio-only media."""
    fps: Optional[float]
    threshold: float
    changes: List[float]


class Adjustment(TypedDict):
    cue: int
    edge: Literal["in", "out"]
    before: float
    after: float
    why: str


class Timing(TypedDict):
    fps: Optional[float]
    shot_changes: int
    adjustments: List[Adjustment]


class CueChange(TypedDict):
    cue: int                        # the cue's number in its input (1-based)
    start: float
    what: str                       # what changed and why (shared/subtitles/kept.py)


class Changes(TypedDict):
    """A track on cues someone already timed (keep_cue_times): its input against its output."""
    input_cues: int
    output_cues: int
    kept: int                       # cues written as they came
    changed: List[CueChange]


class Track(TypedDict):
    language: str
    role: Literal["source", "target"]
    cues: int
    compliance: NotRequired[Compliance]
    timing: NotRequired[Timing]
    srt: NotRequired[str]
    vtt: NotRequired[str]
    ass: NotRequired[str]
    ttml: NotRequired[str]
    txt: NotRequired[str]
    changes: NotRequired[Changes]
    cue_list: NotRequired[str]      # cues.<lang>.json: the cues with what review.html flags in each


class Flag(TypedDict):
    kind: str                       # reading_speed, short, long, line_length, lines, shot_change, low_confidence, speaker_change, translation_fallback
    detail: str


class CueWord(TypedDict):
    start: float
    end: float
    word: str
    probability: Optional[float]


class ListedCue(TypedDict):
    start: float
    end: float
    lines: List[str]
    speakers: List[str]
    flags: List[Flag]
    words: List[CueWord]            # a source track's words with their times (none in a translation)


class CueList(TypedDict):
    """A track's cues as written, with what review.html flags in each (shared/subtitles/rules.py cue_flags, the rules the subtitles stage applies)."""
    language: str
    role: Literal["source", "target"]
    cues: List[ListedCue]


class Subtitles(TypedDict):
    """The tracks written: the source language's, or the targets' in the job's order."""
    tracks: List[Track]


class LlmFallback(TypedDict):
    """Sentences (1-based ids) an LLM's reply could not give, translated by the MT model instead."""
    first: int
    last: int
    reason: str
    start: NotRequired[float]       # the time span of those sentences
    end: NotRequired[float]


class LlmUsage(TypedDict):
    """An LLM translation's service and what it cost: every request this job has paid for, the
    windows reused from earlier runs, and the fallbacks per target."""
    translator: Literal["llm", "post-edit"]
    model: str                      # PROVIDER:MODEL
    url: str
    local: bool                     # a server on this machine: nothing left it
    requests: int
    tokens_in: int
    tokens_out: int
    cost_usd: Optional[float]       # null where config/llm.json has no price for the model
    prices_as_of: Optional[str]
    windows: int
    reused_windows: int             # finished in an earlier run: not asked again
    fallbacks: Dict[str, List[LlmFallback]]


class Translations(TypedDict):
    """One translation file per target."""
    source: str
    sentences: int
    files: Dict[str, str]
    llm: NotRequired[LlmUsage]


class Mux(TypedDict):
    """The muxed copy of the media (and, with burn-in, the copy with a track drawn into the picture)."""
    output: str
    subtitle_codec: str
    tracks: List[str]
    burned: NotRequired[str]
    burned_track: NotRequired[str]


class Clip(TypedDict):
    start: float
    end: Optional[float]


class Job(TypedDict):
    """What the job is: media, languages, clip, per-stage overrides, stages."""
    job_id: str
    created: NotRequired[str]
    media: NotRequired[str]           # the media file; a subs job may have none
    subs: NotRequired[str]            # a subs job's subtitle file (prepare-job.sh --subs)
    media_info: NotRequired[Dict[str, Any]]
    workflow: str
    source_language: str
    target_languages: List[str]
    clip: NotRequired[Clip]
    overrides: NotRequired[Dict[str, Dict[str, Any]]]
    stages: List[str]
    fallbacks: NotRequired[Dict[str, Dict[str, str]]]
    allow_network: NotRequired[bool]  # prepare-job.sh --allow-network: a remote LLM service may be used


class StageRecord(TypedDict, total=False):
    state: Literal["running", "done", "failed", "interrupted"]
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
    """Each stage's last run."""
    stages: Dict[str, StageRecord]


class BatchJob(TypedDict):
    job_id: str
    media: str


class Refused(TypedDict):
    media: str
    reason: str


class Batch(TypedDict):
    """A batch (out/batches/): the request its jobs share, each job and its media, and the files
    refused at prepare with their reason. The jobs' own files say how far each has come."""
    batch_id: str
    created: str
    request: Dict[str, Any]
    jobs: List[BatchJob]
    refused: List[Refused]


@dataclass(frozen=True)
class Document:
    pattern: str        # the file name in the job directory (<lang>: a language code)
    shape: Any          # its TypedDict, whose docstring says what it holds
    writer: str         # the stage (or front) that writes it


_WRITTEN = (("job.json", Job, "prepare-job"), ("shots.json", Shots, "shots"), ("vad.json", Vad, "vad"),
            ("transcript.json", Transcript, "asr"), ("speakers.json", Speakers, "speakers"),
            ("translations.json", Translations, "translate"),
            ("translation.<lang>.json", Transcript, "translate"), ("subtitles.json", Subtitles, "subtitles"),
            ("translated_subtitles.json", Subtitles, "translated_subtitles"),
            ("cues.<lang>.json", CueList, "subtitles, translated_subtitles"), ("mux.json", Mux, "mux"),
            ("status.json", Status, "run-pipeline"), ("batch-<id>.json", Batch, "prepare-job"))
DOCUMENTS = [Document(*row) for row in _WRITTEN]


def document(name: str) -> Document:
    for doc in DOCUMENTS:
        if re.fullmatch(re.sub(r"<[a-z]+>", "[A-Za-z0-9_.-]+", re.escape(doc.pattern).replace("\\<", "<").replace("\\>", ">")), name):
            return doc
    raise KeyError(f"{name} is not a declared stage file (shared/schema.DOCUMENTS)")


# -- checking -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _hints(shape: Any) -> dict:
    """A TypedDict's fields and their types (resolved once: a 450,000-cue transcript checks each
    segment against the same shape)."""
    return get_type_hints(shape)


def _typed_dict(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, dict) and hasattr(shape, "__annotations__")


@functools.lru_cache(maxsize=None)
def _form(shape: Any) -> tuple:
    return get_origin(shape), get_args(shape)


def problem(value: Any, shape: Any, where: str = "") -> Optional[str]:
    """Where `value` departs from the declared `shape` (a TypedDict or a typing form), or None. The
    place is named only once a fault is found (a list's items are checked without their labels)."""
    origin, args = _form(shape)
    label = where or "the file"
    if shape is Any:
        return None
    if origin is NotRequired:
        return problem(value, args[0], where)
    if origin is Union:
        found = [problem(value, option, where) for option in args]
        return None if None in found else found[-1]
    if origin is Literal:
        return None if value in args else f"{label} should be one of {', '.join(map(str, args))}, not {value!r}"
    if shape is type(None):
        return None if value is None else f"{label} should be null"
    if _typed_dict(shape):
        if not isinstance(value, dict):
            return f"{label} should be an object, not {type(value).__name__}"
        missing = [key for key in sorted(shape.__required_keys__) if key not in value]
        if missing:
            return f"{label} lacks {', '.join(missing)}"
        for key, hint in _hints(shape).items():
            if key in value:
                found = problem(value[key], hint, f"{where}.{key}" if where else key)
                if found:
                    return found
        return None
    if origin in (list, List, dict, Dict):
        listed = origin in (list, List)
        if not isinstance(value, list if listed else dict):
            return f"{label} should be {'a list' if listed else 'an object'}, not {type(value).__name__}"
        hint = args[-1]
        for key, item in (enumerate(value) if listed else value.items()):
            if problem(item, hint) is not None:
                return problem(item, hint, f"{where}[{key}]" if listed else f"{where}.{key}")
        return None
    if shape is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    return None if ok else f"{label} should be {shape.__name__}, not {type(value).__name__}"


def check(value: Any, shape: Any, name: str, fix: str = "") -> Any:
    """`value` when it has the declared shape, else a UserError naming the file, the fault and
    (`fix`) what to do."""
    found = problem(value, shape)
    if found:
        raise UserError(f"{name} is damaged ({found})" + (f": {fix}" if fix else ""))
    return value


def _fix(path: Path, doc: Document) -> str:
    if doc.writer == "prepare-job":
        return "prepare the job again with ./prepare-job.sh"
    if doc.writer == "run-pipeline":
        return ""  # the pipeline moves its own damaged file aside and rebuilds it
    return f"run the job again from its {doc.writer} stage (./run-pipeline.sh -j {path.parent.name} --from {doc.writer})"


def read(path: Path) -> dict:
    """A stage file, checked against its declared shape."""
    from shared.core import config

    doc = document(path.name)
    shown = config.display_path(path)
    fix = _fix(path, doc)
    if not path.is_file():
        raise UserError(f"{shown} is missing" + (f": {fix}" if fix else ""))
    try:
        data = config.load_json(path)
    except UserError as exc:
        raise UserError(f"{exc}" + (f" ({fix})" if fix else ""))
    return check(data, doc.shape, shown, fix)


def write(path: Path, data: dict) -> None:
    """A stage file, checked against its declared shape, written atomically."""
    from shared.core import files

    found = problem(data, document(path.name).shape)
    if found:
        raise ValueError(f"{path.name} does not match its declared shape: {found}")
    files.write_json_atomic(path, data)


# -- documentation --------------------------------------------------------------------------------------


def _type_name(shape: Any) -> str:
    origin, args = get_origin(shape), get_args(shape)
    if origin is NotRequired:
        return _type_name(args[0])
    if origin is Union:
        named = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(named) + (" \\| null" if type(None) in args else "")
    if origin is Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin in (list, List):
        return f"[{_type_name(args[0])}]"
    if origin in (dict, Dict):
        return f"{{{_type_name(args[0])}: {_type_name(args[1])}}}"
    if _typed_dict(shape):
        return shape.__name__
    return {float: "number", int: "integer", str: "string", bool: "boolean"}.get(shape, getattr(shape, "__name__", "any"))


def _fields(shape: Any) -> str:
    required = shape.__required_keys__
    return ", ".join(f"`{key}`{'' if key in required else '?'}: {_type_name(hint)}"
                     for key, hint in get_type_hints(shape).items())


def markdown() -> str:
    """The tables of docs/segments.md: each file, then each shape it uses."""
    lines = ["| file | written by | shape | content |", "|---|---|---|---|"]
    lines += [f"| `{d.pattern}` | {d.writer} | {_type_name(d.shape)} | {' '.join(d.shape.__doc__.split())} |"
              for d in DOCUMENTS]
    seen: list[Any] = []

    def collect(shape: Any) -> None:
        if _typed_dict(shape) and shape not in seen:
            seen.append(shape)
        for hint in (get_type_hints(shape).values() if _typed_dict(shape) else get_args(shape)):
            if _typed_dict(hint) and hint not in seen or get_args(hint):
                collect(hint)

    for doc in DOCUMENTS:
        collect(doc.shape)
    lines += ["", "| shape | fields (`?`: may be absent) |", "|---|---|"]
    lines += [f"| {s.__name__} | {_fields(s)} |" for s in seen]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- schema: begin (python -m shared.core.schema --docs) -->", "<!-- schema: end -->"


def docs_text(current: str) -> str:
    """docs/segments.md with its generated block made from the declarations."""
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{markdown()}{END}{tail}"


def main() -> int:
    from shared.core import config, files

    if sys.argv[1:] != ["--docs"]:
        print("usage: python -m shared.core.schema --docs   (rewrite docs/segments.md's tables)")
        return 2
    path = config.REPO_ROOT / "docs" / "segments.md"
    files.write_text_atomic(path, docs_text(path.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    from shared.core.errors import run_cli

    run_cli(main, prog="schema")
