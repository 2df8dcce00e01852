"""Each word given the speaker heard at its own times; segments split where the speaker changes; the
speakers labelled, and named, in order of first appearance.

A word takes the speaker of the window whose middle is nearest its own (windows overlap, so that is
the window most centred on it). A run of words too brief to be a turn (under min_turn_seconds of
speech and a single word) between two runs of one other speaker is theirs: a turn is a breath at
least. A segment without word times (WhisperX unaligned) takes the speaker heard longest in it.
"""

from __future__ import annotations

import bisect


def _label_at(windows, middles: list[float], labels: list[int], t: float) -> int:
    """The speaker of the window most centred on t among those that hold it, else of the nearest."""
    i = bisect.bisect_left(middles, t)
    near = range(max(0, i - 8), min(len(middles), i + 8))
    holding = [j for j in near if windows[j].start <= t <= windows[j].end]
    nearest = min(holding or [j for j in (i - 1, i) if 0 <= j < len(middles)], key=lambda j: abs(middles[j] - t))
    return labels[nearest]


def _smooth_words(words: list[dict], least: float) -> None:
    """A one-word run under `least` seconds between two runs of one other speaker takes theirs."""
    runs = []
    for i, word in enumerate(words):
        if runs and runs[-1][2] == word["speaker"]:
            runs[-1][1] = i
        else:
            runs.append([i, i, word["speaker"]])
    for k in range(1, len(runs) - 1):
        first, last, _ = runs[k]
        seconds = words[last]["end"] - words[first]["start"]
        if runs[k - 1][2] == runs[k + 1][2] and first == last and seconds < least:
            for i in range(first, last + 1):
                words[i]["speaker"] = runs[k - 1][2]


def _longest(spans, start: float, end: float):
    """The speaker heard longest within [start, end], of (span start, span end, speaker) spans."""
    heard: dict = {}
    for span_start, span_end, speaker in spans:
        overlap = min(end, span_end) - max(start, span_start)
        if overlap > 0:
            heard[speaker] = heard.get(speaker, 0.0) + overlap
    return max(heard, key=heard.get) if heard else None


def assign(segments: list[dict], windows, labels: list[int], names: list[str], settings: dict) -> dict:
    """{speakers, turns, segments}: the transcript's segments, split where the speaker changes, with
    a speaker label on each segment and word."""
    order = sorted(range(len(windows)), key=lambda i: windows[i].middle)
    placed = [windows[i] for i in order]
    middles = [w.middle for w in placed]
    ordered = [int(labels[i]) for i in order]
    words = [dict(w) for seg in segments for w in seg.get("words") or []]
    for word in words:
        word["speaker"] = _label_at(placed, middles, ordered, (word["start"] + word["end"]) / 2) if middles else 0
    _smooth_words(words, float(settings["min_turn_seconds"]))
    pieces = []  # (segment, its words of one speaker, speaker)
    position = 0
    for seg in segments:
        own = words[position:position + len(seg.get("words") or [])]
        position += len(own)
        if not own:
            spans = [(w.start, w.end, label) for w, label in zip(windows, labels)]
            pieces.append((seg, [], _longest(spans, seg["start"], seg["end"]) if middles else 0))
            continue
        run = [own[0]]
        for word in own[1:]:
            if word["speaker"] != run[-1]["speaker"]:
                pieces.append((seg, run, run[0]["speaker"]))
                run = []
            run.append(word)
        pieces.append((seg, run, run[0]["speaker"]))
    # labels in order of first appearance: S1 is whoever speaks first
    first_seen: list[int] = []
    for _, _, speaker in pieces:
        if speaker is not None and speaker not in first_seen:
            first_seen.append(speaker)
    label_of = {k: (names[i] if i < len(names) else f"Speaker {i + 1}") for i, k in enumerate(first_seen)}
    out, speakers = [], {k: {"id": f"S{i + 1}", "label": label_of[k], "seconds": 0.0, "words": 0, "first": None}
                         for i, k in enumerate(first_seen)}
    for seg, run, speaker in pieces:
        label = label_of.get(speaker)
        if run:
            piece = {**seg, "start": run[0]["start"], "end": run[-1]["end"],
                     "text": "".join(w["word"] for w in run).strip(),
                     "words": [{**w, "speaker": label} for w in run]}
        else:
            piece = {**seg, "words": []}
        if label is not None:
            piece["speaker"] = label
            entry = speakers[speaker]
            entry["seconds"] += piece["end"] - piece["start"]
            entry["words"] += len(run) or len(seg["text"].split())
            entry["first"] = piece["start"] if entry["first"] is None else entry["first"]
        out.append({**piece, "id": len(out)})
    turns: list[dict] = []
    for piece in out:
        if turns and turns[-1]["speaker"] == piece.get("speaker"):
            turns[-1]["end"] = piece["end"]
        elif piece.get("speaker"):
            turns.append({"start": piece["start"], "end": piece["end"], "speaker": piece["speaker"]})
    listed = [{**s, "seconds": round(s["seconds"], 3), "first": round(s["first"] or 0.0, 3)} for s in speakers.values()]
    return {"speakers": listed, "turns": turns, "segments": out}


def _turn_at(turns: list[dict], t: float) -> str | None:
    inside = [turn for turn in turns if turn["start"] <= t <= turn["end"]]
    if inside:
        return inside[0]["speaker"]
    nearest = min(turns, key=lambda turn: min(abs(t - turn["start"]), abs(t - turn["end"])), default=None)
    return nearest["speaker"] if nearest else None


def by_turns(segments: list[dict], turns: list[dict]) -> list[dict]:
    """Segments heard apart from the transcript (Whisper's own translation) given the speakers of the
    turns at their words' times, and split where the speaker changes; a segment without words takes
    the speaker heard longest in it. Without turns, the segments as they are."""
    if not turns:
        return segments
    out = []
    for seg in segments:
        words = seg.get("words") or []
        if not words:
            who = _longest([(t["start"], t["end"], t["speaker"]) for t in turns], seg["start"], seg["end"])
            out.append({**seg, **({"speaker": who} if who else {})})
            continue
        runs: list[list[dict]] = []
        for word in words:
            who = _turn_at(turns, (word["start"] + word["end"]) / 2)
            if runs and runs[-1][0]["speaker"] == who:
                runs[-1].append({**word, "speaker": who})
            else:
                runs.append([{**word, "speaker": who}])
        for run in runs:
            piece = {**seg, "start": run[0]["start"], "end": run[-1]["end"],
                     "text": "".join(w["word"] for w in run).strip(), "words": run}
            if run[0]["speaker"] is None:
                piece.pop("speaker", None)
                piece["words"] = [{k: v for k, v in w.items() if k != "speaker"} for w in run]
            else:
                piece["speaker"] = run[0]["speaker"]
            out.append(piece)
    return [{**seg, "id": i} for i, seg in enumerate(out)]
