"""Batch decoding: windows read from the WAV a batch at a time and decoded by an engine's
transcribe(audio, clips), `workers` batches side by side; and the language heard in the speech.

Memory holds the batches being decoded and does not grow with the film. A window's pieces are
joined with gap_seconds of silence in place of each pause, and every word is mapped back to the
job's audio piece by piece.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import sys
import wave

from shared.asr.windows import SAMPLE_RATE, Window, joined_pause, read_samples, speech_sample


def workers(settings: dict) -> int:
    """Batches decoded at once: the setting, at most one per thread."""
    return max(1, min(int(settings.get("workers") or 1), int(settings.get("threads") or 1)))


def threads_each(settings: dict) -> int:
    """The threads each of the batches decoded at once runs on (0: CTranslate2's choice)."""
    threads = int(settings.get("threads") or 0)
    return max(1, threads // workers(settings)) if threads else 0


def batches(windows: list, size: int, at_once: int = 1) -> list[list]:
    """The windows in time order, cut into batches of at most size, as even as can be, and as many
    as a multiple of at_once where there are windows enough, so batches decoded side by side end
    together (20 windows, batch 3, 2 at once: 3 3 3 3 2 2 2 2, not 3 3 3 3 3 3 2)."""
    if not windows:
        return []
    count = math.ceil(len(windows) / max(1, size))
    count = min(len(windows), math.ceil(count / at_once) * at_once)
    each, more = divmod(len(windows), count)  # the first `more` batches take one window more
    edges = [i * each + min(i, more) for i in range(count + 1)]
    return [windows[a:b] for a, b in zip(edges, edges[1:])]


def batch_size(settings: dict) -> int:
    """Windows in one batch: the hardware's batch_size is what is decoded at once, shared among the
    workers, so memory (a batch's cross-attention keys and values, for each beam) stays that of one
    batch of batch_size however many decode side by side."""
    return max(1, int(settings["batch_size"]) // workers(settings))


FRAMES_PER_SECOND = 100  # Whisper's mel frames (the encoder's output has half as many)


WHOLE_WINDOW = 3000  # mel frames in Whisper's 30 s window


def encoder_frames(clips: list[dict], settings: dict) -> int:
    """Mel frames the encoder hears for a batch of clips (the faster-whisper engine, and the mlx engine's
    beam search): the longest clip's whole seconds and
    encoder_margin_seconds of the padding after it, at least encoder_min_seconds, at most Whisper's
    30 s window. The encoder's cost is the same for 3 s of speech as for 30 (the rest is padding);
    most of the padding left out, a short window costs a fraction. Under 10 s of context Whisper hears
    worse (bench/README.md); at least 15 s, the words were the same or better, and tiny.en on real
    speech took 0.91x the bare batched pipeline's time where the whole window took 1.16x."""
    longest = max((c["end"] - c["start"] for c in clips), default=0.0)
    seconds = max(float(settings["encoder_min_seconds"]),
                  math.ceil(longest) + float(settings["encoder_margin_seconds"]))
    return min(WHOLE_WINDOW, int(math.ceil(seconds * FRAMES_PER_SECOND)))


def decode_windows(transcribe, audio_path, windows: list[Window], settings: dict, on_batch=None) -> list[list[dict]]:
    """Each window's segments (in the order of `windows`), decoded a batch of windows at a time by the
    engine's transcribe(audio, clips), which returns segment dicts (start, end, text, avg_logprob,
    no_speech_prob, compression_ratio, words) timed in the joined audio.

    A window's audio is its speech pieces joined without the pauses between them (gap_seconds of
    silence in their place), as faster-whisper's own VAD path does: across a long pause the decoder
    tends to stop and skip what follows. Times are mapped back piece by piece. The windows go into
    batches by the length heard, the shortest together: a batch's encoder hears as long as its
    longest window (encoder_frames). The batches are decoded `workers` at a
    time (transcribe must then be safe to call from several threads), each read from the WAV when its
    turn comes: memory holds that many batches, and does not grow with the film. on_batch(done,
    total) is told the windows decoded after each batch."""
    at_once = workers(settings)
    gap = float(settings["gap_seconds"])
    order = sorted(range(len(windows)), key=lambda i: windows[i].heard(windows[i].pause(gap)))
    groups = batches(order, batch_size(settings), at_once)
    jobs = [[windows[i] for i in group] for group in groups]
    decode = functools.partial(_decode_batch, transcribe, audio_path, gap)
    pool = concurrent.futures.ThreadPoolExecutor(at_once, thread_name_prefix="decode") if at_once > 1 else None
    found: dict[int, list[dict]] = {}
    try:
        for group, decoded in zip(groups, pool.map(decode, jobs) if pool else map(decode, jobs)):
            found.update(zip(group, decoded))
            if on_batch:
                on_batch(len(found), len(windows))
    finally:
        if pool:  # a batch that failed stops the rest: those not started are not decoded
            pool.shutdown(cancel_futures=True)
    return [found[i] for i in range(len(windows))]


def _decode_batch(transcribe, audio_path, gap: float, group: list[Window]) -> list[list[dict]]:
    """Each window's segments for one batch of windows, timed in the job's audio."""
    import numpy as np

    parts, clips, maps, offset = [], [], [], 0.0
    with wave.open(str(audio_path), "rb") as wav:
        for window in group:
            start_offset, mapping, between = offset, [], window.pause(gap)
            for index, (start, end) in enumerate(window.pieces):
                if index:
                    silence = np.zeros(int(joined_pause(window.pieces[index - 1][1], start, between) * SAMPLE_RATE),
                                       dtype=np.float32)
                    parts.append(silence)
                    offset += len(silence) / SAMPLE_RATE
                samples = read_samples(wav, start, end)
                mapping.append((offset, start, len(samples) / SAMPLE_RATE))
                parts.append(samples)
                offset += len(samples) / SAMPLE_RATE
            clips.append({"start": start_offset, "end": offset})
            maps.append(mapping)
    found: list[list[dict]] = [[] for _ in group]
    if offset < 0.1:  # regions past the end of the audio: nothing to hear
        return found
    for seg in transcribe(np.concatenate(parts), clips):
        index = _clip_of(seg, clips)
        words = [{**w, **placed(maps[index], w["start"], w["end"])} for w in seg["words"]]
        times = ({"start": words[0]["start"], "end": words[-1]["end"]} if words else
                 {"start": placed(maps[index], seg["start"], seg["start"])["start"],
                  "end": placed(maps[index], seg["end"], seg["end"])["end"]})
        found[index].append({**seg, **times, "words": words})
    return found


def _clip_of(seg: dict, clips: list[dict]) -> int:
    """The clip a decoded segment belongs to: the one its middle is in, or the nearest. Not by its
    start: the engine rounds times, and a clip's segment may start a little before the clip (4.63 for
    a clip at 4.64), which would give it, and its words, to the clip before."""
    middle = (seg["start"] + seg["end"]) / 2
    return min(range(len(clips)), key=lambda i: max(clips[i]["start"] - middle, middle - clips[i]["end"], 0.0))


def placed(mapping: list[tuple[float, float, float]], start: float, end: float) -> dict:
    """A word's start and end in the joined audio of a window as times of the job's audio. mapping:
    (offset in the joined audio, start in the job's audio, length) of each piece. The word belongs to
    the piece its middle is in, or nearest to (a word timed a little early or late falls in the
    silence joined between two pieces), and stays within it."""
    middle = (start + end) / 2

    def distance(piece) -> float:
        return max(piece[0] - middle, middle - (piece[0] + piece[2]), 0.0)

    offset, origin, length = min(mapping, key=distance)
    return {"start": origin + min(max(0.0, start - offset), length),
            "end": origin + min(max(0.0, end - offset), length)}


def detect_language(whisper_model, audio_path, regions: list[dict], detector=None) -> tuple[str, float]:
    """The spoken language and its probability, from the speech alone: faster-whisper's detector, or
    detector(samples) -> (language, probability) (the mlx engine's)."""
    sample = speech_sample(audio_path, regions)
    if detector is None:
        language, probability, _ = whisper_model.detect_language(audio=sample, language_detection_segments=1)
    else:
        language, probability = detector(sample)
    print(f"note: detected language {language} (probability {probability:.2f}) from "
          f"{len(sample) / SAMPLE_RATE:.1f} s of speech", file=sys.stderr, flush=True)
    return language, probability
