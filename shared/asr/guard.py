"""The guard, for every engine: what Whisper writes where nobody speaks is dropped, with its reason.

Words outside every speech region, repetition loops (gzip compression ratio) and silence phantoms
(a high no-speech probability with a low log-probability: "Thank you for watching.").
"""

from __future__ import annotations


def phantom(seg: dict, settings: dict) -> str | None:
    """Why a decoded segment is no speech at all, or None: a repetition loop (gzip compression ratio)
    or a silence phantom (high no-speech probability with a low log-probability)."""
    if seg.get("compression_ratio", 0) > float(settings["compression_ratio_threshold"]):
        return "repetition (compression ratio %.2f)" % seg["compression_ratio"]
    if (seg.get("no_speech_prob", 0) > float(settings["no_speech_threshold"])
            and seg.get("avg_logprob", 0) < float(settings["log_prob_threshold"])):
        return "no speech (no-speech probability %.2f)" % seg["no_speech_prob"]
    return None


def guard(segments: list[dict], regions: list[dict], settings: dict) -> tuple[list[dict], list[dict]]:
    """Drop what Whisper writes where nobody speaks: words outside every speech region, and segments
    that are repetition loops (gzip compression ratio) or silence phantoms (high no-speech
    probability with a low log-probability, "Thank you for watching."). Returns the kept segments
    and the dropped ones with their reasons."""
    pad = float(settings["outside_speech_tolerance"])
    spans = sorted((float(r["start"]) - pad, float(r["end"]) + pad) for r in regions)

    def in_speech(start: float, end: float) -> bool:
        return any(start <= e and end >= s for s, e in spans)

    kept, dropped = [], []
    for seg in segments:
        reason = phantom(seg, settings)
        if not reason and seg["words"]:
            inside = [w for w in seg["words"] if in_speech(w["start"], w["end"])]
            if not inside:
                reason = "outside speech"
            elif len(inside) < len(seg["words"]):
                outside = [w for w in seg["words"] if w not in inside]
                dropped.append({"start": round(float(outside[0]["start"]), 3), "end": round(float(outside[-1]["end"]), 3),
                                "text": "".join(w["word"] for w in outside).strip(), "reason": "outside speech"})
                seg = {**seg, "words": inside, "text": "".join(w["word"] for w in inside),
                       "start": inside[0]["start"], "end": inside[-1]["end"]}
        elif not reason and not in_speech(seg["start"], seg["end"]):
            reason = "outside speech"
        if reason:
            dropped.append({"start": round(float(seg["start"]), 3), "end": round(float(seg["end"]), 3),
                            "text": seg["text"].strip(), "reason": reason})
        else:
            kept.append(seg)
    return kept, dropped
