"""The coverage check: what the batched decoder skipped, found and decoded again.

A batched decoder may end a window early and skip whole sentences (a voice change, speech after a
pause). Every speech region's words are checked against its speech (the job's own median words per
second, and holes with no word); the regions that fall short are decoded again packed together into
windows, checked again, and only those still short decoded each alone; then the stretches of regions
still without a word, the same way. Each is recorded in transcript.json, with how it was heard. The
cost grows with the speech missed, not with the number of places: decoding each region alone, as
before, cost tiny.en on real speech 30 windows on top of the first pass's 24 (bench/README.md).
"""

from __future__ import annotations

import sys

from shared.asr.decoding import decode_windows
from shared.asr.guard import phantom
from shared.asr.windows import WHISPER_WINDOW, Window, pack, speech_windows


REGION_TOLERANCE = 0.2  # seconds around a region within which its words may be timed


def word_count(segments: list[dict]) -> int:
    """Timed words, or the words of the text where there are no word times (WhisperX unaligned)."""
    return sum(len(s.get("words") or []) or len(s["text"].split()) for s in segments)


def _middle(item: dict) -> float:
    return (item["start"] + item["end"]) / 2


def _words_in(segments: list[dict], start: float, end: float) -> int:
    return sum(1 for s in segments for w in s["words"] if start <= _middle(w) <= end)


def _without(segments: list[dict], spans: list[tuple[float, float]]) -> list[dict]:
    """The segments less their words inside the spans. A segment with words on both sides of a span
    (words in it or none: the decoder may have skipped it) is cut there in two, so that what is
    decoded again for the span goes between them, in time order (a window decodes as one segment:
    kept whole, it would span the new words and read before them)."""
    out = []
    for seg in segments:
        runs, run = [], []
        for word in seg["words"]:
            middle = _middle(word)
            if run and any(_middle(run[-1]) < e and s <= middle for s, e in spans):  # a span since the last word
                runs.append(run)
                run = []
            if not any(s <= middle <= e for s, e in spans):
                run.append(word)
        if run:
            runs.append(run)
        if runs == [seg["words"]]:
            out.append(seg)
        else:
            out += [{**seg, "words": words, "text": "".join(w["word"] for w in words),
                     "start": words[0]["start"], "end": words[-1]["end"]} for words in runs]
    return out


def _gaps(segments: list[dict], start: float, end: float) -> list[tuple[float, float]]:
    """The stretches of [start, end] with no word in them, in time order."""
    spans = sorted((w["start"], w["end"]) for s in segments for w in s["words"]
                   if start <= _middle(w) <= end)
    edges = [start] + [t for span in spans for t in span] + [end]
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2)]


def _holes(segments: list[dict], start: float, end: float) -> float:
    """The longest stretch of a region with no word in it (seconds)."""
    return max(e - s for s, e in _gaps(segments, start, end))


def _region_counts(windows: list[Window], decoded: list[list[dict]]) -> list[tuple[int, float]]:
    """(words, seconds) of every region of every window."""
    return [(_words_in(segments, start - REGION_TOLERANCE, end + REGION_TOLERANCE), end - start)
            for window, segments in zip(windows, decoded) for start, end in window.pieces]


def _falls_short(segments: list[dict], span: tuple, expected: float, settings: dict) -> bool:
    """Whether a span of at least coverage_min_seconds holds fewer words than expected words per
    second predicts, or a stretch of more than coverage_max_hole seconds with no word."""
    low, high = span[0] - REGION_TOLERANCE, span[1] + REGION_TOLERANCE
    return span[1] - span[0] >= float(settings["coverage_min_seconds"]) and (
        _words_in(segments, low, high) < expected * (span[1] - span[0])
        or _holes(segments, low, high) > float(settings["coverage_max_hole"]))


def short_regions(windows: list[Window], decoded: list[list[dict]], settings: dict,
                  expected: float | None = None) -> list[tuple[int, tuple]]:
    """(window index, region) for each region whose words fall short of its speech: fewer than
    coverage_ratio of what this job's own median rate (words per second of speech, so it fits the
    language and the speaker) predicts, or a stretch of coverage_max_hole seconds with no word.
    When a window holds two voices, or speech after a pause, the batched decoder may end early and
    skip whole sentences: this finds them. expected: the rate, where the caller has it already."""
    expected = _expected_rate(_region_counts(windows, decoded), settings) if expected is None else expected
    if expected is None:
        return []
    return [(index, region) for index, (window, segments) in enumerate(zip(windows, decoded))
            for region in window.pieces if _falls_short(segments, region, expected, settings)]


def _expected_rate(found: list[tuple[int, float]], settings: dict) -> float | None:
    """The fewest words per second of speech a stretch may hold before it counts as short:
    coverage_ratio of the job's median rate over its (words, seconds) stretches of at least
    coverage_min_seconds; None when there is none to judge by."""
    least = float(settings["coverage_min_seconds"])
    rates = sorted(words / seconds for words, seconds in found if seconds >= least)
    return float(settings["coverage_ratio"]) * rates[len(rates) // 2] if rates else None


def decode_alone(transcribe, audio_path, spans: list[tuple[int, tuple]], settings: dict):
    """(window index, span, segments) for each (window index, span) given, the span decoded on its
    own (decode_windows batches them by length)."""
    alone = [Window(s, e, [(s, e)]) for _, (s, e) in spans]
    return [(index, span, found) for (index, span), found in zip(spans, decode_windows(transcribe, audio_path, alone,
                                                                                       settings))]


def _split(segments: list[dict], pieces: list[tuple[float, float]]) -> dict[tuple, list[dict]]:
    """A window's segments cut piece by piece: each piece's words (each word to the first piece its
    middle is in; a window decodes as one segment, which spans all its pieces)."""
    out: dict[tuple, list[dict]] = {piece: [] for piece in pieces}
    for seg in segments:
        runs: dict[tuple, list[dict]] = {}
        for word in seg["words"]:
            piece = next((p for p in pieces if p[0] <= _middle(word) <= p[1]), None)
            if piece is not None:
                runs.setdefault(piece, []).append(word)
        for piece, words in runs.items():
            out[piece].append({**seg, "words": words, "text": "".join(w["word"] for w in words),
                               "start": words[0]["start"], "end": words[-1]["end"]})
    return out


class Recovery:
    """What the coverage check found missing, decoded again at a cost that grows with the speech
    missed, not with the number of places: the spans packed into windows as the first pass packs
    regions (other neighbours, so the decoder hears them in another context), in batches; then
    checked again, and only a span still missing, out of a window it shared, decoded alone.

    Counts the windows each way (the record transcript.json keeps) and keeps the phantoms of the
    spans decoded alone, for the guard to drop and record."""

    def __init__(self, transcribe, audio_path, settings: dict):
        self.transcribe, self.audio_path, self.settings = transcribe, audio_path, settings
        self.packed_windows = self.alone = 0
        self.phantoms: list[dict] = []

    def _clean(self, found: list[list[dict]], record: bool) -> list[list[dict]]:
        """The segments less the phantoms, which are kept for the guard's record when asked: those
        of the last pass (a packed window's loop leaves its spans short, and they are heard alone)."""
        if record:
            self.phantoms += [seg for segments in found for seg in segments if phantom(seg, self.settings)]
        return [[seg for seg in segments if not phantom(seg, self.settings)] for segments in found]

    def decode(self, spans: list[tuple[int, tuple]], missing) -> list[tuple[int, tuple, list[dict], str]]:
        """(window index, span, segments, "packed" or "alone") for each (window index, span) given;
        missing(segments, span) says whether a span's words still fall short. The spans packed into
        windows, then each span still short decoded alone. A second packed round of those measured
        worse on real speech (tiny.en: WER 0.126 against 0.116, for 7 windows against 5 and 6 alone)."""
        owner = {span: index for index, span in spans}
        found: dict[tuple, list[dict]] = {}
        how: dict[tuple, str] = {}
        windows = pack([{"start": s, "end": e} for s, e in sorted(owner)],
                       min(float(self.settings["window_seconds"]), WHISPER_WINDOW),
                       joined_gap=float(self.settings["gap_seconds"]))
        still = []
        if len(windows) < len(owner):  # some go together
            self.packed_windows += len(windows)
            for window, segments in zip(windows, decode_windows(self.transcribe, self.audio_path, windows,
                                                                self.settings)):
                lone = len(window.pieces) == 1  # alone already: its phantoms are recorded
                for span, words in _split(self._clean([segments], lone)[0], window.pieces).items():
                    found[span], how[span] = words, "packed"
                    if not lone and missing(words, span):
                        still.append(span)
        else:
            still = sorted(owner)
        if still:
            self.alone += len(still)
            for _, span, segments in decode_alone(self.transcribe, self.audio_path,
                                                  [(owner[span], span) for span in still], self.settings):
                segments = self._clean([segments], True)[0]
                if word_count(segments) >= word_count(found.get(span, [])):
                    found[span], how[span] = segments, "alone"
        return [(index, span, found[span], how[span]) for index, span in spans]


def redecode(transcribe, audio_path, windows: list[Window], decoded: list[list[dict]], settings: dict,
             recovery: Recovery | None = None):
    """(window index, region, segments, how) for each region whose words fell short, decoded again
    (Recovery: packed with the other short regions, then alone if still short). A region that had its
    window to itself would hear the same audio again, and is left as it is."""
    recovery = recovery or Recovery(transcribe, audio_path, settings)
    expected = _expected_rate(_region_counts(windows, decoded), settings)
    if expected is None:
        return []
    short = [(index, region) for index, region in short_regions(windows, decoded, settings, expected)
             if len(windows[index].pieces) > 1]
    return recovery.decode(short, lambda segments, span: _falls_short(segments, span, expected, settings))


def hole_spans(windows: list[Window], decoded: list[list[dict]], settings: dict) -> list[tuple[int, tuple]]:
    """(window index, stretch) for each stretch of more than coverage_max_hole seconds with no word,
    in a region that has words elsewhere: the decoder heard the region but skipped part of it, even
    alone (the VAD joins two sentences across a short pause, and a sentence is skipped as in a
    window). A region with no word at all is left: decoded alone already, it may be no speech."""
    longest, out = float(settings["coverage_max_hole"]), []
    for index, (window, segments) in enumerate(zip(windows, decoded)):
        for start, end in window.pieces:
            low, high = start - REGION_TOLERANCE, end + REGION_TOLERANCE
            if _words_in(segments, low, high):
                out += [(index, (max(s, start), min(e, end))) for s, e in _gaps(segments, low, high)
                        if min(e, end) - max(s, start) > longest]
    return out


def decode_checked(transcribe, audio_path, vad: dict, settings: dict,
                   windows: list[Window] | None = None) -> tuple[list[dict], list[dict], dict]:
    """The speech windows (or the windows given) decoded in batches, with progress on the terminal,
    then what fell short decoded again (Recovery: packed, then alone what is still short): each
    region whose words fall short of its speech, then each stretch of a region still without a
    word. Returns the segments in time order, the record of what was decoded again (each entry
    says how) and the windows decoded: {"windows", "recovery_windows" (packed), "decoded_alone"}."""
    windows = speech_windows(audio_path, vad, settings) if windows is None else windows

    def progress(done: int, total: int):
        print(f"progress: {done / total:.0%}", file=sys.stderr, flush=True)

    decoded = decode_windows(transcribe, audio_path, windows, settings, on_batch=progress)
    # A repetition loop or phantom covers its regions with words that are no speech: they are not
    # counted, so those regions are decoded again; the phantoms go out with the rest, for the guard
    # to drop and record.
    phantoms = [seg for found in decoded for seg in found if phantom(seg, settings)]
    decoded = [[seg for seg in found if not phantom(seg, settings)] for found in decoded]
    recovery = Recovery(transcribe, audio_path, settings)
    redecoded = []
    for index, region, segments, how in redecode(transcribe, audio_path, windows, decoded, settings, recovery):
        before = _words_in(decoded[index], region[0] - REGION_TOLERANCE, region[1] + REGION_TOLERANCE)
        if word_count(segments) > before:
            decoded[index] = _without(decoded[index], [region]) + segments
            redecoded.append({"start": round(region[0], 3), "end": round(region[1], 3),
                              "words_before": before, "words_after": word_count(segments), "how": how})
    # Then the stretches still without a word, in regions heard in part.
    for index, span, segments, how in recovery.decode(hole_spans(windows, decoded, settings),
                                                      lambda segments, span: not word_count(segments)):
        if word_count(segments):
            decoded[index] = _without(decoded[index], [span]) + segments
            redecoded.append({"start": round(span[0], 3), "end": round(span[1], 3),
                              "words_before": 0, "words_after": word_count(segments), "how": how})
    if redecoded or recovery.packed_windows:
        print(f"note: {len(redecoded)} stretches decoded again ({recovery.packed_windows} packed windows, "
              f"{recovery.alone} alone)", file=sys.stderr, flush=True)
    segments = sorted([seg for found in decoded for seg in found] + phantoms + recovery.phantoms,
                      key=lambda s: s["start"])
    return segments, sorted(redecoded, key=lambda r: r["start"]), {
        "windows": len(windows), "recovery_windows": recovery.packed_windows, "decoded_alone": recovery.alone}


def within(segment: dict, start: float, end: float) -> bool:
    return start - REGION_TOLERANCE <= _middle(segment) <= end + REGION_TOLERANCE


def short_windows(windows: list[Window], segments: list[dict], settings: dict) -> list[int]:
    """Windows of several regions whose text falls short of their speech: fewer words than
    coverage_ratio of the job's median words per second of speech predicts (WhisperX gives no word
    times before alignment, so the whole window's text is what can be counted)."""
    counts = [(i, word_count([s for s in segments if within(s, w.start, w.end)]), w.speech)
              for i, w in enumerate(windows)]
    expected = _expected_rate([(words, speech) for _, words, speech in counts], settings)
    if expected is None:
        return []
    least = float(settings["coverage_min_seconds"])
    return [i for i, words, speech in counts
            if len(windows[i].pieces) > 1 and speech >= least and words < expected * speech]
