"""The script check: a segment written in a script its language is not written in (Urdu script or
Latin for Hindi, Telugu for Tamil) is decoded again with the language forced, prompted with the
job's own text in the right script where it has some, and recorded in transcript.json.

Whisper's tokens are shared by every language, so a decoder told "hi" can still write Hindustani in
Urdu script; text of the right script before the segment is what steers it back. The check is by
the Unicode Script property (shared/core/scripts.py).
"""

from __future__ import annotations

from shared.asr.coverage import decode_alone
from shared.core import scripts

MARGIN = 0.2  # seconds of audio either side of a segment decoded again
PROMPT_CHARACTERS = 200  # the prompt's tail: Whisper keeps the last 223 tokens of a prompt


def _prompt(segments: list[dict], index: int, right: list[int]) -> str | None:
    """The job's text in the right script (the segments right holds) nearest before the segment,
    else after it."""
    before = [i for i in right if i < index]
    chosen = before[-3:] if before else [i for i in right if i > index][:3]
    text = " ".join(segments[i]["text"].strip() for i in chosen)
    return text[-PROMPT_CHARACTERS:] or None


def check(segments: list[dict], language: str, decoder, audio_path, settings: dict) -> tuple[list[dict], list[dict]]:
    """(segments, record): each wrong-script segment decoded again by decoder(prompt) -> transcribe,
    with the language forced; the new text is taken when it is in the right script, else the old one
    is kept, and both are recorded."""
    found_in = [scripts.wrong_script(seg["text"], language) for seg in segments]
    wrong = [(i, found) for i, found in enumerate(found_in) if found]
    if not wrong:
        return segments, []
    right = [i for i, (seg, found) in enumerate(zip(segments, found_in))
             if found is None and scripts.dominant(seg["text"]) is not None]
    out = list(segments)
    record = []
    expected = list(scripts.expected(language))
    for index, found in wrong:
        seg = segments[index]
        span = (max(0.0, seg["start"] - MARGIN), seg["end"] + MARGIN)
        prompt = _prompt(segments, index, right)
        [(_, _, again)] = decode_alone(decoder(prompt), audio_path, [(index, span)], settings)
        text = " ".join(s["text"].strip() for s in again).strip()
        still = scripts.wrong_script(text, language) if text else found
        entry = {"start": round(seg["start"], 3), "end": round(seg["end"], 3), "found": found,
                 "expected": expected, "reason": f"written in {found}, not in {' or '.join(expected)}",
                 "text_before": seg["text"].strip(), "prompted": prompt is not None}
        if text and still is None:
            words = [w for s in again for w in s.get("words") or []]
            out[index] = {**seg, "text": " " + text, "words": words or seg.get("words") or [],
                          "start": again[0]["start"], "end": again[-1]["end"]}
            entry.update(action="decoded again with the language forced", text_after=text)
        else:
            entry.update(action=f"kept: decoded again, still in {still}", text_after=text or None)
        record.append(entry)
    return out, record


def settled_and_checked(segments: list[dict], language: str, detected: bool, task: str, decoder_for,
                        audio_path, settings: dict) -> tuple[list[dict], str, list[dict]]:
    """What every engine does after decoding: a detected language settled by the script the text came
    out in (Hindi against Urdu), then each segment checked for its language's script and decoded
    again by decoder_for(language, prompt) where it is wrong. Returns (segments, language, record)."""
    if detected and task == "transcribe":
        settled = scripts.settle(language, [seg["text"] for seg in segments])
        if settled != language:
            print(f"note: detected {language}, written in the script of {settled}: the transcript is {settled}",
                  flush=True)
            language = settled
    written = "en" if task == "translate" else language
    segments, record = check(segments, written, lambda prompt: decoder_for(language, prompt), audio_path, settings)
    return segments, language, record
