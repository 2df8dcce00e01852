"""The asr stage's windows: packing VAD regions, finding regions the batched decoder skipped, and
dropping what Whisper writes where nobody speaks. The rules here; the real decoder end to end below."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, clean_env
from shared.asr import coverage, decoding, guard
from shared.asr.windows import Window, pack, split_long
from shared.core import config
from shared.core.scoring import recall, word_error_rate

sys.path.insert(0, str(REPO / "scripts"))
import make_sample  # noqa: E402


def transcribe(media, out, *flags, asr_overrides=None) -> dict:
    """The transcribe workflow through the real fronts, tiny.en, offline: its transcript.json."""
    env = clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    prep = subprocess.run(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "en",
                           "--model", "tiny.en", *flags], cwd=REPO, env=env, capture_output=True, text=True)
    job_id = prep.stdout.strip().splitlines()[-1]
    if asr_overrides:  # a job's own settings, as job.json documents them
        job = json.loads((out / job_id / "job.json").read_text())
        job["overrides"]["asr"].update(asr_overrides)
        (out / job_id / "job.json").write_text(json.dumps(job))
    run = subprocess.run(["./run-pipeline.sh", "-j", job_id], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((out / job_id / "transcript.json").read_text())


ASR = config.pipeline_defaults()["asr"]  # the asr stage's default settings


def spoken(tmp_path, sentences: list[str], voices: list[str], pauses: list[float], times: list | None = None):
    """A 16 kHz mono WAV of the sentences spoken by espeak-ng in the voices, each followed by its pause
    (seconds), after half a second of silence. Each sentence's (start, end) is appended to `times`."""
    import wave

    pcm, at = [b"\0\0" * 8000], 0.5
    for index, (sentence, voice) in enumerate(zip(sentences, voices)):
        clip = tmp_path / f"s{index}.wav"
        make_sample._speech_wav(sentence, voice, clip, tmp_path)
        with wave.open(str(clip), "rb") as wav:
            pcm += [wav.readframes(wav.getnframes()), b"\0\0" * int(round(pauses[index] * 16000))]
            length = wav.getnframes() / wav.getframerate()
        if times is not None:
            times.append((at, at + length))
        at += length + int(round(pauses[index] * 16000)) / 16000
    media = tmp_path / "spoken.wav"
    with wave.open(str(media), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"".join(pcm))
    return media


def regions(*spans):
    return [{"start": s, "end": e} for s, e in spans]


def words(*items):
    return [{"start": s, "end": e, "word": " " + w, "probability": 0.9} for s, e, w in items]


def test_pack_joins_neighbours_up_to_the_limit_and_cuts_long_regions():
    windows = pack(regions((0, 5), (6, 12), (13, 29), (31, 40), (41, 110)), 30)
    assert [(w.start, w.end) for w in windows] == [(0, 29), (31, 40), (41, 64), (64, 87), (87, 110)]
    assert windows[0].pieces == [(0, 5), (6, 12), (13, 29)] and windows[0].speech == 27
    assert [(w.start, w.end) for w in pack(regions((0, 5), (6, 12)), 0)] == [(0, 5), (6, 12)]
    assert [(w.start, w.end) for w in pack(regions((0, 5), (9, 12)), 30, max_gap=3)] == [(0, 5), (9, 12)]


def test_windows_hold_what_the_decoder_hears_not_the_span():
    """Joined with 0.5 s gaps, four 7 s regions 5 s apart make one 29.5 s window of audio, though they
    span 43 s; counted by span they would need two."""
    spread = regions((0, 7), (12, 19), (24, 31), (36, 43))
    joined = pack(spread, 30, joined_gap=0.5)
    assert len(joined) == 1 and joined[0].speech + 0.5 * 3 == 29.5
    assert len(pack(spread, 30)) == 2
    assert len(pack(spread + regions((44, 46)), 30, joined_gap=0.5)) == 2


def test_dense_speech_joins_with_shorter_pauses_and_sparse_keeps_the_gap():
    """Seven 4 s regions fill 28 s: with 1 s pauses they need two windows, with the pauses shortened
    to a third of a second one (least_gap_seconds 0.3), as speech joined end to end would. A window
    that fits with the full gap keeps it."""
    dense = regions(*[(5 * i, 5 * i + 4) for i in range(7)])
    assert len(pack(dense, 30, joined_gap=1.0)) == 2
    one = pack(dense, 30, joined_gap=1.0, least_gap=0.3)
    assert len(one) == 1 and 0.3 <= one[0].gap < 1.0 and one[0].heard(one[0].gap) <= 30
    assert one[0].gap == pytest.approx((30 - 28 - 1e-3) / 6)
    sparse = pack(regions((0, 4), (10, 14)), 30, joined_gap=1.0, least_gap=0.3)
    assert len(sparse) == 1 and sparse[0].gap is None
    assert len(pack(regions(*[(5 * i, 5 * i + 4.5) for i in range(7)]), 30, joined_gap=1.0, least_gap=0.3)) == 2


def test_a_window_is_decoded_with_its_own_gap(noise_wav):
    """The decoder hears each window's pieces joined with that window's gap, and its words come back
    on the job's time."""
    heard = []

    def records(samples, clips):
        heard.extend(clip["end"] - clip["start"] for clip in clips)
        return [{"start": clip["start"], "end": clip["end"], "text": "", "words": words(*sound_words(samples, clip, False))}
                for clip in clips]

    windows = [Window(1, 16, SPANS[:4], gap=0.25), Window(40, 43, [SPANS[4]])]
    decoded = decoding.decode_windows(records, noise_wav, windows, {**ASR, "batch_size": 2, "gap_seconds": 1.0})
    assert sorted(heard) == pytest.approx([3, 12 + 3 * 0.25])
    starts = [w["start"] for seg in decoded[0] for w in seg["words"]]
    assert all(any(s <= t < e for s, e in SPANS[:4]) for t in starts)
    assert all(sum(1 for t in starts if s <= t < e) >= 5 for s, e in SPANS[:4])


def test_short_regions_are_found_by_rate_and_by_holes():
    windows = pack(regions((0, 4), (5, 9), (10, 14), (15, 21)), 30)
    steady = [(t, t + 0.3, "w") for t in (0.2, 0.6, 1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4, 3.7)]
    decoded = [[{"start": 0, "end": 21, "text": "", "words": words(
        *steady,
        *[(s + 5, e + 5, w) for s, e, w in steady],                      # region 2: as dense
        *[(s + 10, e + 10, w) for s, e, w in steady[:3]],                # region 3: a third of it
        *[(s + 15, e + 15, w) for s, e, w in steady] ,                   # region 4: 4 s of words, then 2.3 s with none
    )}]]
    assert coverage.short_regions(windows, decoded, ASR) == [(0, (10, 14)), (0, (15, 21))]


SPANS = [(1, 4), (5, 8), (9, 12), (13, 16), (40, 43)]  # seconds of noise in 45 s of silence


@pytest.fixture
def noise_wav(tmp_path):
    import wave

    import numpy as np

    audio = np.zeros(45 * 16000, dtype=np.int16)
    for start, end in SPANS:
        audio[start * 16000:end * 16000] = np.random.default_rng(1).integers(-8000, 8000, (end - start) * 16000)
    with wave.open(str(tmp_path / "audio.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(audio.tobytes())
    return tmp_path / "audio.wav"


def sound_words(samples, clip: dict, stop_at_pause: bool) -> list[tuple[float, float, str]]:
    """A word every 0.5 s of sound in the clip (up to its first 0.5 s of silence when stop_at_pause)."""
    t, found = clip["start"], []
    while t < clip["end"] - 0.25:
        if not samples[int(t * 16000):int((t + 0.5) * 16000)].any():
            if found and stop_at_pause:
                break
        else:
            found.append((t, t + 0.4, "w"))
        t += 0.5
    return found


def test_short_regions_are_decoded_again_packed_then_alone_unless_they_had_their_window_alone(noise_wav):
    """A decoder that stops at the first long pause of what it hears (the batched decoder's early end),
    on regions of noise: a window of four regions comes back with the first only. Its three short
    regions are decoded again packed into one window, which the decoder cuts short again: the first
    is heard there, and only the two still short are decoded alone, in one batch. A short region that
    had a window to itself is not decoded again: it would hear the same audio."""
    calls = []

    def stops_early(samples, clips):
        calls.append(len(clips))
        return [{"start": clip["start"], "end": clip["end"], "text": "", "words": words(*found)}
                for clip in clips for found in [sound_words(samples, clip, True)]]

    settings = {**ASR, "batch_size": 8, "gap_seconds": 1.0, "window_seconds": 30}
    windows = [Window(1, 16, SPANS[:4]), Window(40, 43, [SPANS[4]])]
    decoded = decoding.decode_windows(stops_early, noise_wav, windows, settings)
    assert [sum(1 for seg in decoded[0] for w in seg["words"] if s <= w["start"] < e) for s, e in SPANS[:4]] == [6, 0, 0, 0]
    decoded[1] = []  # the lone region came back empty too
    calls.clear()
    recovery = coverage.Recovery(stops_early, noise_wav, settings)
    again = coverage.redecode(stops_early, noise_wav, windows, decoded, settings, recovery)
    assert calls == [1, 2] and (recovery.packed_windows, recovery.alone) == (1, 2)
    assert [(index, region, how) for index, region, _, how in again] == [
        (0, SPANS[1], "packed"), (0, SPANS[2], "alone"), (0, SPANS[3], "alone")]
    assert [coverage.word_count(segments) for _, _, segments, _ in again] == [6, 6, 6]


def test_recovery_grows_with_the_speech_missed_not_with_the_places(noise_wav):
    """Twenty short stretches, each the second region of a window of its own, skipped where they
    were: decoded again packed, they take as many windows as their speech fills (60 s of speech in
    30 s windows: 3, in one batch), not twenty. A decoder that hears them there needs nothing alone."""
    import wave

    import numpy as np

    rate, spans = 16000, [(10 * i + 1, 10 * i + 4) for i in range(40)]
    audio = np.zeros(402 * rate, dtype=np.int16)
    for start, end in spans:
        audio[start * rate:end * rate] = np.random.default_rng(start).integers(-8000, 8000, (end - start) * rate)
    path = noise_wav.parent / "long.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(audio.tobytes())
    windows = [Window(a[0], b[1], [a, b]) for a, b in zip(spans[::2], spans[1::2])]
    calls = []

    def hears_the_first_of_the_job_windows(samples, clips):
        calls.append(len(clips))
        out = []
        for clip in clips:
            found = sound_words(samples, clip, False)
            if len(calls) == 1:  # the first pass: each window's second region skipped
                found = found[:6]
            out.append({"start": clip["start"], "end": clip["end"], "text": " w" * len(found),
                        "avg_logprob": -0.3, "no_speech_prob": 0.1, "compression_ratio": 1.5, "words": words(*found)})
        return out

    settings = {**ASR, "batch_size": 32, "gap_seconds": 1.0, "window_seconds": 30}
    segments, redecoded, counts = coverage.decode_checked(
        hears_the_first_of_the_job_windows, path, {"duration": 402.0, "regions": regions(*spans)}, settings,
        windows=windows)
    assert counts == {"windows": 20, "recovery_windows": 3, "decoded_alone": 0} and calls == [20, 3]
    assert [(r["start"], r["end"], r["how"]) for r in redecoded] == [(s, e, "packed") for s, e in spans[1::2]]
    assert [sum(1 for seg in segments for w in seg["words"] if s <= w["start"] < e) for s, e in spans] == [6] * 40


def test_batches_are_even_and_as_many_as_a_multiple_of_the_workers():
    sizes = lambda n, size, at_once: [len(b) for b in decoding.batches(list(range(n)), size, at_once)]
    assert sizes(19, 8, 2) == [5, 5, 5, 4]  # not 8 8 3: two side by side end together
    assert sizes(19, 4, 2) == [4, 3, 3, 3, 3, 3]
    assert sizes(20, 3, 2) == [3, 3, 3, 3, 2, 2, 2, 2]
    assert sizes(19, 8, 1) == [7, 6, 6]
    assert sizes(109, 4, 2) == [4] * 25 + [3, 3, 3]
    assert sizes(3, 8, 2) == [2, 1] and sizes(1, 8, 2) == [1] and sizes(0, 8, 2) == []
    assert sum(decoding.batches(list(range(50)), 8, 4), []) == list(range(50))  # every window once, in order


def test_workers_are_capped_by_the_threads_and_share_them():
    assert (decoding.workers({"workers": 2, "threads": 2}), decoding.threads_each({"workers": 2, "threads": 2})) == (2, 1)
    assert (decoding.workers({"workers": 2, "threads": 1}), decoding.threads_each({"workers": 2, "threads": 1})) == (1, 1)
    assert (decoding.workers({"workers": 4, "threads": 16}), decoding.threads_each({"workers": 4, "threads": 16})) == (4, 4)
    # what is decoded at once stays the hardware's batch_size, shared out: memory of one batch
    assert [decoding.batch_size({"batch_size": 8, "workers": w, "threads": 2}) for w in (1, 2)] == [8, 4]
    assert decoding.workers({"workers": None, "threads": 8}) == 1 and decoding.threads_each({"workers": 1}) == 0


def test_batches_decoded_side_by_side_come_back_as_one_at_a_time(noise_wav):
    """Two workers decode two batches at once, each on a thread of its own, and the windows come back
    in their order, the same as one batch at a time; progress is told after each batch."""
    import threading
    import time

    running, most, threads = [0], [0], set()
    lock = threading.Lock()

    def slow(samples, clips):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return [{"start": clip["start"], "end": clip["end"], "text": "", "words": words(*sound_words(samples, clip, False))}
                for clip in clips]

    windows = [Window(s, e, [(s, e)]) for s, e in SPANS] * 2
    base = {**ASR, "batch_size": 6, "gap_seconds": 1.0, "window_seconds": 30}
    told = []
    one = decoding.decode_windows(slow, noise_wav, windows, {**base, "workers": 1, "threads": 2})
    assert most[0] == 1
    two = decoding.decode_windows(slow, noise_wav, windows, {**base, "workers": 2, "threads": 2},
                                  on_batch=lambda done, total: told.append((done, total)))
    assert most[0] == 2 and len(threads) >= 2
    times = lambda decoded: [[(round(w["start"], 6), round(w["end"], 6)) for seg in found for w in seg["words"]]
                             for found in decoded]
    assert times(two) == times(one) and [coverage.word_count(found) for found in two] == [6] * 10
    assert told == [(3, 10), (6, 10), (8, 10), (10, 10)]
    for window, found in zip(windows, two):  # each window's words where its speech is
        assert all(window.start <= w["start"] <= w["end"] <= window.end + 0.01 for seg in found for w in seg["words"])


def test_windows_of_like_length_are_decoded_together(noise_wav):
    """A batch's encoder hears as long as its longest window: the short windows go together, the
    long ones together, and each comes back in its place."""
    batches = []

    def records(samples, clips):
        batches.append([round(clip["end"] - clip["start"], 3) for clip in clips])
        return [{"start": clip["start"], "end": clip["end"], "text": "", "words": words(*sound_words(samples, clip, False))}
                for clip in clips]

    long_, short = Window(1, 16, SPANS[:4]), Window(40, 43, [SPANS[4]])
    windows = [long_, short, long_, short]
    decoded = decoding.decode_windows(records, noise_wav, windows, {**ASR, "batch_size": 2, "workers": 1,
                                                                    "gap_seconds": 1.0})
    assert batches == [[3.0, 3.0], [15.0, 15.0]]
    assert [coverage.word_count(found) for found in decoded] == [24, 6, 24, 6]


def test_a_region_decoded_again_goes_between_the_words_around_it(noise_wav):
    """A window decodes as one segment (one text per window). When the decoder skips the window's
    second region, that region is decoded again alone, and the window's segment is cut around it:
    the segments, and the words read in their order (what subtitles and translation read), stay in
    time order. Kept whole, the window's segment would span the new words and read before them."""
    def skips_the_second(samples, clips):
        out = []
        for clip in clips:
            found = sound_words(samples, clip, False)
            if clip["end"] - clip["start"] > 5:  # a joined window: its second piece is 4-7 s into it
                found = [f for f in found if not clip["start"] + 4 <= f[0] < clip["start"] + 7]
            out.append({"start": clip["start"], "end": clip["end"], "text": " w" * len(found),
                        "avg_logprob": -0.3, "no_speech_prob": 0.1, "compression_ratio": 1.5, "words": words(*found)})
        return out

    settings = {**ASR, "batch_size": 8, "gap_seconds": 1.0, "window_seconds": 30}
    vad = {"duration": 45.0, "regions": regions(*SPANS)}
    windows = [Window(1, 16, SPANS[:4]), Window(40, 43, [SPANS[4]])]
    segments, redecoded, _ = coverage.decode_checked(skips_the_second, noise_wav, vad, settings, windows=windows)
    assert [(r["start"], r["end"]) for r in redecoded] == [SPANS[1]]
    assert [sum(1 for seg in segments for w in seg["words"] if s <= w["start"] < e) for s, e in SPANS] == [6] * 5
    times = [w["start"] for seg in segments for w in seg["words"]]
    assert times == sorted(times)
    assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:]))
    assert all(seg["text"] == "".join(w["word"] for w in seg["words"]) for seg in segments)


def test_a_stretch_skipped_even_alone_is_decoded_by_itself(noise_wav):
    """The VAD joined two sentences across a short pause into one region (1-8 s: sound at 1-4 and
    5-8), and the decoder skips the first 3 s of anything longer than 5 s: in the window, and alone
    again. The stretch still without a word (1-5 s) is decoded by itself, its words go before the
    rest, and that is recorded. A region with no word at all (nothing heard) is left as it is."""
    def skips_the_start(samples, clips):
        out = []
        for clip in clips:
            found = sound_words(samples, clip, False)
            if clip["end"] - clip["start"] > 5:
                found = [f for f in found if f[0] >= clip["start"] + 3]
            out.append({"start": clip["start"], "end": clip["end"], "text": " w" * len(found),
                        "avg_logprob": -0.3, "no_speech_prob": 0.1, "compression_ratio": 1.5, "words": words(*found)})
        return out

    settings = {**ASR, "batch_size": 8, "gap_seconds": 1.0, "window_seconds": 30}
    vad = {"duration": 45.0, "regions": regions((1, 8), (9, 12), (13, 16), (20, 23), (40, 43))}
    windows = [Window(1, 16, [(1, 8), (9, 12), (13, 16)]), Window(20, 23, [(20, 23)]),
               Window(40, 43, [(40, 43)])]
    segments, redecoded, _ = coverage.decode_checked(skips_the_start, noise_wav, vad, settings, windows=windows)
    assert [sum(1 for seg in segments for w in seg["words"] if s <= w["start"] < e) for s, e in SPANS] == [6] * 5
    assert [(r["start"], r["end"], r["words_before"], r["words_after"]) for r in redecoded] == [(1, 5, 0, 6)]
    times = [w["start"] for seg in segments for w in seg["words"]]
    assert times == sorted(times)


def test_each_segment_goes_to_its_own_window_though_its_start_is_rounded_early(noise_wav):
    """The engine rounds times: a clip's segment may start a frame before the clip (4.63 for a clip
    at 4.640000000000001, seen with faster-whisper's batched pipeline). Each segment still goes to its
    own window, with its words at their times in the job's audio, none lost and none put in the
    window before."""
    def rounds_early(samples, clips):
        return [{"start": round(clip["start"] - 0.02, 2), "end": round(clip["end"], 2), "text": " w" * len(found),
                 "avg_logprob": -0.3, "no_speech_prob": 0.1, "compression_ratio": 1.5, "words": words(*found)}
                for clip in clips for found in [sound_words(samples, clip, False)]]

    windows = [Window(s, e, [(s, e)]) for s, e in SPANS]
    decoded = decoding.decode_windows(rounds_early, noise_wav, windows, {**ASR, "batch_size": 8, "workers": 1})
    assert [[(round(w["start"], 2), round(w["end"], 2)) for seg in found for w in seg["words"]] for found in decoded] == [
        [(s + k / 2, s + k / 2 + 0.4) for k in range(6)] for s, _ in SPANS]


def test_a_word_timed_into_the_joined_silence_stays_with_its_piece():
    """Pieces (0, 3) and (10, 13) of the job's audio joined with a 1 s gap: in the joined audio the
    second starts at 4. A word the decoder times at 3.7-4.3 (it began a little early) belongs to the
    second piece and starts there; one at 2.8-3.3 ends the first."""
    mapping = [(0.0, 0.0, 3.0), (4.0, 10.0, 3.0)]
    assert decoding.placed(mapping, 3.7, 4.3) == {"start": 10.0, "end": 10.3}
    assert decoding.placed(mapping, 2.8, 3.3) == {"start": 2.8, "end": 3.0}
    assert decoding.placed(mapping, 5.0, 5.5) == {"start": 11.0, "end": 11.5}


def test_regions_under_a_repetition_loop_are_decoded_again_and_the_loop_recorded(noise_wav):
    """A window of several regions decoded as one repetition loop: its words cover every region, but
    they are no speech, so they count for none; each region is decoded again alone, and the loop
    goes to the guard, which drops and records it."""
    def loops_when_joined(samples, clips):
        out = []
        for clip in clips:
            found = sound_words(samples, clip, False)
            looped = clip["end"] - clip["start"] > 5
            out.append({"start": clip["start"], "end": clip["end"], "text": " the" * len(found) if looped else "",
                        "compression_ratio": 6.0 if looped else 1.5, "avg_logprob": -0.3, "no_speech_prob": 0.1,
                        "words": words(*[(s, e, "the" if looped else w) for s, e, w in found])})
        return out

    settings = {**ASR, "batch_size": 8, "gap_seconds": 1.0, "window_seconds": 30}
    vad = {"duration": 45.0, "regions": regions(*SPANS)}
    windows = [Window(1, 16, SPANS[:4]), Window(40, 43, [SPANS[4]])]
    segments, redecoded, _ = coverage.decode_checked(loops_when_joined, noise_wav, vad, settings, windows=windows)
    kept, dropped = guard.guard(segments, vad["regions"], settings)
    assert [(r["start"], r["end"], r["words_before"]) for r in redecoded] == [(s, e, 0) for s, e in SPANS[:4]]
    assert all(w["word"].strip() == "w" for seg in kept for w in seg["words"])
    assert [sum(1 for seg in kept for w in seg["words"] if s <= w["start"] < e) for s, e in SPANS] == [6] * 5
    assert [d["reason"].split(" (")[0] for d in dropped] == ["repetition"]


def test_guard_drops_text_outside_speech_and_phantoms_and_says_why():
    speech = regions((0, 5), (10, 15))
    segments = [
        {"start": 0.5, "end": 4.5, "text": " Good morning.", "words": words((0.5, 1.0, "Good"), (1.1, 1.6, "morning."))},
        {"start": 5.0, "end": 9.0, "text": " Thank you for watching.",
         "words": words((6.0, 6.5, "Thank"), (6.5, 7.0, "you"), (7.0, 7.5, "for"), (7.5, 8.0, "watching."))},
        {"start": 10.0, "end": 15.0, "text": " the the the", "compression_ratio": 3.1,
         "words": words((10.0, 11.0, "the"), (11.0, 12.0, "the"), (12.0, 13.0, "the"))},
        {"start": 10.0, "end": 15.0, "text": " Subtitles by nobody", "no_speech_prob": 0.9, "avg_logprob": -1.4,
         "words": words((10.5, 11.0, "Subtitles"), (11.0, 11.5, "by"), (11.5, 12.0, "nobody"))},
        {"start": 14.0, "end": 17.0, "text": " Goodbye. Really", "words": words((14.0, 14.6, "Goodbye."), (16.5, 17.0, "Really"))},
    ]
    kept, dropped = guard.guard(segments, speech, ASR)
    assert [s["text"].strip() for s in kept] == ["Good morning.", "Goodbye."]
    assert [(d["text"], d["reason"].split(" (")[0]) for d in dropped] == [
        ("Thank you for watching.", "outside speech"), ("the the the", "repetition"),
        ("Subtitles by nobody", "no speech"), ("Really", "outside speech")]


def test_short_windows_count_text_when_there_are_no_word_times():
    windows = pack(regions((0, 4), (5, 9), (10, 14), (15, 19), (20, 24), (25, 29)), 10)
    segments = [{"start": 0, "end": 9, "text": " ".join(["w"] * 24)},       # 8 s of speech, 24 words
                {"start": 10, "end": 19, "text": " ".join(["w"] * 9)},      # a sentence skipped
                {"start": 20, "end": 29, "text": " ".join(["w"] * 22)}]
    assert coverage.short_windows(windows, segments, ASR) == [1]


# One window of every region, 2 s apart (longer than the 30 s Whisper hears), through the asr stage's
# decode-and-check with the real tiny.en model.
PROVOKE = """
import json, sys
from pathlib import Path
from shared.asr import coverage, engine_faster_whisper
from shared.asr.windows import pack
from shared.jobs import workflows
job = Path(sys.argv[1])
settings = {**workflows.stage_settings(json.loads((job / "job.json").read_text()), "asr"), "gap_seconds": 2.0}
vad = json.loads((job / "vad.json").read_text())
windows = pack(vad["regions"], 60, joined_gap=2.0)
decoder = engine_faster_whisper.faster_whisper_decoder(engine_faster_whisper.load_model(settings), settings, "en", None)
segments, redecoded, _ = coverage.decode_checked(decoder, job / "audio.wav", vad, settings, windows=windows)
print(json.dumps({"windows": len(windows), "redecoded": redecoded, "segments": segments}))
"""


@pytest.mark.parametrize("engine", ["faster-whisper", "whisperx"])
def test_a_sentence_the_batched_decoder_skips_is_decoded_again(tmp_path, engine):
    """Voices change every sentence and the pauses vary, as in bench/transcribe_speed.py's media.
    faster-whisper: the pipeline hears every sentence; then the same regions packed into windows that
    last longer than Whisper's 30 s (the batched decoder hears only their first 30 s, a real skip
    provoked) go through the stage's decode-and-check: the coverage check finds the regions with no
    words and decodes them again on their own, and records it. WhisperX, given 30 s chunks, gets the
    same check on its text."""
    sentences = make_sample.SENTENCES["en"][:6] + [
        "The committee will meet again next week to discuss the budget.",
        "Heavy traffic was reported on the highway near the airport.",
        "She opened the window and listened to the birds outside."]
    voices = ["en", "en-us", "en-gb-x-rp", "en+f3", "en-us+m3"]
    pauses = [0.4, 0.5, 1.2, 0.6, 1.1, 0.6, 0.3, 1.3, 0.5]
    times = []
    media = spoken(tmp_path, sentences, [voices[i % len(voices)] for i in range(len(sentences))], pauses, times)
    if engine == "whisperx":  # regions joined into 30 s chunks, as WhisperX does when it aligns
        transcript = transcribe(media, tmp_path / "out", "--engine", "whisperx", "--vad", "pyannote",
                                asr_overrides={"chunk_size": 30})
    else:
        transcript = transcribe(media, tmp_path / "out")
        job = next((tmp_path / "out").iterdir())
        provoked = json.loads(subprocess.run(
            [str(REPO / ".venvs" / "common" / "bin" / "python"), "-c", PROVOKE, str(job)], cwd=REPO,
            env=clean_env(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO)), capture_output=True, text=True,
            check=True).stdout)
        assert provoked["windows"] == 1 and provoked["redecoded"], provoked  # the skip happened, and was mended
        spans = [(r["start"], r["end"]) for r in provoked["redecoded"]]
        skipped = [text for text, (start, end) in zip(sentences, times)
                   if any(s < end and start < e for s, e in spans)]
        back = [w["word"] for seg in provoked["segments"] for w in seg["words"]
                if any(s <= (w["start"] + w["end"]) / 2 <= e for s, e in spans)]
        said = sum(len(text.split()) for text in skipped)
        # the sentences the decoder skipped came back: about as many words as were said, most of them
        # the words said (the model's reading of an inflection differs from one CPU's int8 kernels to another's)
        print(f"skipped {skipped}, heard again {''.join(back)!r}")
        assert skipped and 0.8 * said <= len(back) <= 1.2 * said, (skipped, back)
        assert recall(" ".join(skipped), " ".join(back)) >= 0.5, (skipped, back)
    text = " ".join(s["text"] for s in transcript["segments"])
    said = sum(len(s.split()) for s in sentences)
    heard = sum(len(s["text"].split()) for s in transcript["segments"])
    print(f"words {heard}/{said}, re-decoded {transcript['decoding']['redecoded']}")
    assert recall(" ".join(sentences), text) >= 0.8, text
    assert heard >= 0.95 * said
    assert transcript["decoding"]["windows"] < len(sentences)  # packed, not one window a sentence


@pytest.mark.parametrize("between,source", [
    ("noise", "anoisesrc=color=pink:amplitude=0.2:sample_rate=16000:duration=15:seed=20261127"),  # the same noise each run
    ("music", "aevalsrc='0.3*sin(2*PI*(220+110*floor(2*t))*t)+0.1*sin(2*PI*660*t)':s=16000:d=15"),
    ("silence", "anullsrc=r=16000:cl=mono:d=40"),
])
def test_nothing_is_written_where_nobody_speaks(tmp_path, between, source):
    """A sentence, then noise, tones or a long silence, then a sentence: both sentences are heard and
    no word lands in what lies between."""
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    make_sample._speech_wav("Good morning, and welcome to the evening news.", "en", first, tmp_path)
    make_sample._speech_wav("The river rose slowly through the night.", "en", second, tmp_path)
    filler, media = tmp_path / "filler.wav", tmp_path / f"{between}.wav"
    ffmpeg = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error"]
    subprocess.run(ffmpeg + ["-f", "lavfi", "-i", source, "-ac", "1", "-c:a", "pcm_s16le", str(filler)], check=True)
    subprocess.run(ffmpeg + ["-i", str(first), "-i", str(filler), "-i", str(second), "-filter_complex",
                             "[0][1][2]concat=n=3:v=0:a=1", "-c:a", "pcm_s16le", str(media)], check=True)
    import wave

    with wave.open(str(first)) as wav:
        gap_start = wav.getnframes() / wav.getframerate()
    with wave.open(str(filler)) as wav:
        gap_end = gap_start + wav.getnframes() / wav.getframerate()
    transcript = transcribe(media, tmp_path / "out")
    words_ = [w for s in transcript["segments"] for w in s["words"]]
    inside = [w for w in words_ if gap_start + 0.5 < (w["start"] + w["end"]) / 2 < gap_end - 0.5]
    assert not inside, inside
    text = " ".join(s["text"] for s in transcript["segments"])
    assert recall("Good morning, and welcome to the evening news.", text) >= 0.6, text
    assert recall("The river rose slowly through the night.", text) >= 0.6, text
    assert isinstance(transcript["dropped"], list)


def test_a_long_region_is_cut_at_its_quietest_moment(tmp_path):
    """70 s of one region (tones, with short dips at 23.0 s and 51.0 s): cut in the dips, not in
    equal parts, and every piece fits a Whisper window."""
    import wave

    import numpy as np

    t = np.arange(70 * 16000) / 16000
    audio = 0.3 * np.sin(2 * np.pi * 300 * t)
    for dip in (23.0, 51.0):
        audio[int(dip * 16000):int((dip + 0.2) * 16000)] = 0.001
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes((audio * 32767).astype(np.int16).tobytes())
    pieces = split_long(regions((0.0, 70.0)), path)
    cuts = [p["end"] for p in pieces[:-1]]
    assert len(cuts) == 2 and abs(cuts[0] - 23.1) < 0.15 and abs(cuts[1] - 51.1) < 0.15, cuts
    assert all(p["end"] - p["start"] <= 30 for p in pieces)
    assert pieces[0]["start"] == 0.0 and pieces[-1]["end"] == 70.0


SILERO = """
import json, sys
from faster_whisper.audio import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model
from shared.core import config
from stages import vad
settings = {**config.pipeline_defaults()["vad"], "threads": 2}
ours = vad.silero_regions(sys.argv[1], settings)
audio = decode_audio(sys.argv[1], sampling_rate=16000)  # faster-whisper's own VAD, the whole audio at once
theirs = [(r["start"] / 16000, r["end"] / 16000) for r in get_speech_timestamps(audio, VadOptions(
    **{k: settings[k] for k in ("threshold", "min_silence_duration_ms", "speech_pad_ms", "min_speech_duration_ms")}))]
print(json.dumps({"ours": ours, "theirs": theirs,
                  "threads": vad.silero_session(2).get_session_options().intra_op_num_threads,
                  "their_threads": get_vad_model().session.get_session_options().intra_op_num_threads}))
"""


def test_silero_reads_the_audio_a_block_at_a_time_and_finds_what_faster_whisper_finds(tmp_path):
    """The vad stage runs faster-whisper's Silero model on its threads (faster-whisper: one) over the
    WAV a block at a time (faster-whisper holds the whole audio three times over): the same regions, to
    the sample, as faster-whisper's own VAD on the same settings, across several blocks (made small
    here) and a last window the audio does not fill."""
    media = spoken(tmp_path, make_sample.SENTENCES["en"][:4], ["en-us"] * 4,
                   [(8000 + 6000 * index + 77) / 16000 for index in range(4)])
    for block in ("10000", "37"):  # faster-whisper's batches, and blocks of 37 windows: the state carried across
        script = SILERO.replace("from stages import vad", f"from stages import vad; vad.BLOCK = {block}")
        found = json.loads(subprocess.run(
            [str(REPO / ".venvs" / "common" / "bin" / "python"), "-c", script, str(media)], cwd=REPO,
            env=clean_env(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO)), capture_output=True, text=True,
            check=True).stdout)
        assert found["threads"] == 2 and found["their_threads"] == 1
        assert len(found["ours"]) >= 3 and found["ours"] == found["theirs"]


def test_the_encoder_hears_the_longest_window_of_a_batch_and_a_margin_after_it():
    from shared.asr.decoding import encoder_frames

    trimmed = {**ASR, "encoder_min_seconds": 10, "encoder_margin_seconds": 2}
    clips = [{"start": 0.0, "end": 3.2}, {"start": 4.2, "end": 12.9}]
    assert encoder_frames(clips[:1], trimmed) == 1000       # 3.2 s: at least 10 s
    assert encoder_frames(clips, trimmed) == 1100           # the longest, 8.7 s: 9 s and 2 s after it
    assert encoder_frames([{"start": 0.0, "end": 29.5}], trimmed) == 3000  # never past Whisper's 30 s
    assert encoder_frames([{"start": 0.0, "end": 3.2}], {**trimmed, "encoder_min_seconds": 30}) == 3000  # off


# The sample's first sentences in one clip, decoded by the stage's decoder with Whisper's whole 30 s
# window and with the encoder trimmed; the encoder's input recorded.
TRIMMED = """
import json, sys
from faster_whisper.audio import decode_audio
from shared.asr import engine_faster_whisper
from shared.core import config
settings = {**config.pipeline_defaults()["asr"], "model": "tiny.en", "device": "cpu", "compute_type": "int8",
            "threads": 2, "workers": 1}
model = engine_faster_whisper.load_model(settings)
frames = []
encode = model.encode
model.encode = lambda features: frames.append(features.shape[-1]) or encode(features)
audio = decode_audio(sys.argv[1])[:int(float(sys.argv[2]) * 16000)]
heard = {}
for name, least in (("whole", 30), ("trimmed", 0)):
    decoder = engine_faster_whisper.faster_whisper_decoder(
        model, {**settings, "encoder_min_seconds": least, "encoder_margin_seconds": 1}, "en", None)
    segments = decoder(audio, [{"start": 0.0, "end": len(audio) / 16000}])
    heard[name] = {"text": " ".join(s["text"] for s in segments), "words": [w for s in segments for w in s["words"]]}
print(json.dumps({"frames": frames, **heard}))
"""


def test_a_window_heard_without_its_padding_gives_the_same_words():
    """Whisper pads every window to 30 s and its encoder costs the same for 9 s of speech as for 30:
    the stage's decoder gives the encoder the longest clip and a margin, and the words are the
    ones heard with the whole window, timed within the clip."""
    seconds = 9.0
    run = subprocess.run([str(REPO / ".venvs" / "common" / "bin" / "python"), "-c", TRIMMED,
                          str(REPO / "scripts" / "sample" / "sample.en.flac"), str(seconds)], cwd=REPO,
                         env=clean_env(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO)), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["frames"] == [3000, 1000]  # 9 s and 1 s after it, where the whole window is 3000
    whole, trimmed = found["whole"], found["trimmed"]
    assert len(whole["text"].split()) >= 15
    assert word_error_rate(whole["text"], trimmed["text"]) <= 0.05, (whole["text"], trimmed["text"])
    assert all(0.0 <= w["start"] <= w["end"] <= seconds + 0.05 for w in trimmed["words"])
