"""ASR on the VAD's speech regions, by one of two engines; writes transcript.json (docs/segments.md).

faster-whisper (common venv): the regions are packed into windows (neighbours joined up to 30 s) and
decoded in batches by faster-whisper's BatchedInferencePipeline, one batch of windows read from the
WAV at a time, so memory stays flat however long the film. Decoding a 3 s region alone costs a full
30 s window; packed, the windows are few and the decoder hears each sentence in context (fewer
errors on the sample: WER 0.0 against 0.043 with base). But a batched decoder may end a window early
and skip whole sentences (a voice change, speech after a pause): every speech region's words are
checked against its speech (the job's own median words per second, and holes with no word), and a
region that falls short is decoded again on its own, then a stretch of a region still without a word
by itself, and each is recorded in transcript.json. Word times come from cross-attention. Nothing
conditions on previous text: on long films that is the usual source of repeated-phrase hallucination.

Then a guard for both engines drops words outside every speech region, repetition loops
(compression ratio) and silence phantoms (no-speech probability with a low log-probability), and
records each with its reason.

whisperx (whisperx venv): WhisperX's batched pipeline, given the VAD stage's regions (merged into
chunks of at most chunk_size seconds, as WhisperX merges its own VAD output), then wav2vec2 forced
alignment for word times when the language's alignment model is cached (catalog group "align",
./cache-models.sh --model align-<lang>). Without it each speech region is a segment of its own and
the subtitle rules spread its words over it; aligned, regions are joined into chunks of up to
chunk_size (30 s, WhisperX's default) and the words carry their own times.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import sys
import wave
from dataclasses import dataclass, field

from shared.core import config, schema
from shared.models import catalog
from shared.translation import glossary
from shared.core.errors import UserError, run_cli
from stages._common import stage_args


def load_model(settings: dict):
    """The Whisper model from the project cache, through the catalog (or a model directory the user
    gave). With --allow-download a missing catalog model is fetched first."""
    from faster_whisper import WhisperModel

    name = settings["model"]
    if config.downloads_allowed():
        model = catalog.find(name, "asr")
        if model is not None and catalog.snapshot(model) is None:
            from shared.models import cache

            cache.fetch(model)
    path = catalog.require(name, "asr")
    try:
        return WhisperModel(str(path), device=settings["device"],
                            compute_type=settings["compute_type"],
                            cpu_threads=threads_each(settings), num_workers=workers(settings))
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot load Whisper model '{name}' from {path}: {damaged(exc)}")


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


def damaged(exc: Exception) -> str:
    """CTranslate2 reads a damaged header's version field as a number and blames a 'later version
    of CTranslate2': say what is likelier."""
    text = str(exc)
    if "version" in text.lower() or "unsupported" in text.lower():
        return (f"its model.bin is damaged or not a CTranslate2 model ({text}); for a cached model run "
                "./cache-models.sh --verify --repair")
    return text


DETECTION_SECONDS = 30.0  # one Whisper window of speech decides the language
SAMPLE_RATE = 16000  # the demux stage's WAV
WHISPER_WINDOW = 30.0  # seconds Whisper hears at a time


def speech_sample(audio_path, regions: list[dict], seconds: float = DETECTION_SECONDS):
    """The first `seconds` of speech: the VAD regions' samples joined, read from the WAV without
    loading the whole film. Whisper's own detection listens to the first 30 s of the audio, which
    in a film is often music, silence or titles."""
    import numpy as np

    pieces, wanted = [], 0.0
    with wave.open(str(audio_path), "rb") as wav:
        for region in regions:
            if wanted >= seconds:
                break
            start = float(region["start"])
            end = min(float(region["end"]), start + seconds - wanted)
            pieces.append(read_samples(wav, start, end))
            wanted += end - start
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


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


@dataclass
class Window:
    """Speech regions decoded together in one Whisper window (times in seconds of the job's audio)."""
    start: float
    end: float
    pieces: list[tuple[float, float]] = field(default_factory=list)

    @property
    def speech(self) -> float:
        return sum(e - s for s, e in self.pieces)

    def heard(self, gap: float) -> float:
        """Seconds of audio the decoder hears: the pieces, with the silence joined between them."""
        return self.speech + sum(joined_pause(a[1], b[0], gap) for a, b in zip(self.pieces, self.pieces[1:]))


def joined_pause(end: float, start: float, gap: float) -> float:
    """The silence put between two joined pieces: gap seconds in place of the pause between two speech
    regions, whatever its length (a fixed gap measured better than the natural pause, even capped:
    bench/README.md); none between the parts of one region cut where it was quietest."""
    return gap if start - end > 1e-6 else 0.0


def pack(regions: list[dict], merge_up_to: float, max_gap: float = float("inf"),
         joined_gap: float | None = None) -> list[Window]:
    """The regions as Whisper windows: neighbours joined while the window stays within merge_up_to
    seconds (0: never joined) and the pause between them is under max_gap; a region longer than
    Whisper's window is cut into equal parts.

    What must fit in merge_up_to is what the decoder hears: the window's span, pauses and all (the
    whisperx engine slices the audio so), or with joined_gap its speech pieces with joined_gap
    seconds between them (the faster-whisper path joins them so)."""
    pieces = []
    for region in regions:
        start, end = float(region["start"]), float(region["end"])
        parts = max(1, math.ceil((end - start) / WHISPER_WINDOW - 1e-9))
        step = (end - start) / parts
        pieces += [(start + i * step, end if i == parts - 1 else start + (i + 1) * step) for i in range(parts)]
    out: list[Window] = []

    def heard(window: Window, start: float, end: float) -> float:
        """Seconds the decoder would hear with the piece joined to the window."""
        if joined_gap is None:
            return end - window.start
        return window.heard(joined_gap) + joined_pause(window.end, start, joined_gap) + (end - start)

    for start, end in pieces:
        if out and heard(out[-1], start, end) <= merge_up_to and start - out[-1].end < max_gap:
            out[-1].end = end
            out[-1].pieces.append((start, end))
        else:
            out.append(Window(start, end, [(start, end)]))
    return out


def split_long(regions: list[dict], audio_path, limit: float = WHISPER_WINDOW, frame: float = 0.05) -> list[dict]:
    """Regions longer than a Whisper window cut where the audio is quietest (the pause between two
    words, where the VAD saw none long enough to end the region), in the second half of each
    window's span, so no cut falls mid-word where a pause exists."""
    import numpy as np

    out = []
    with wave.open(str(audio_path), "rb") as wav:
        for region in regions:
            start, end = float(region["start"]), float(region["end"])
            while end - start > limit:
                low, high = start + limit / 2, start + limit - frame
                samples = read_samples(wav, low, high)
                size = int(frame * SAMPLE_RATE)
                frames = len(samples) // size
                if frames < 1:
                    break
                energy = (samples[:frames * size].reshape(frames, size) ** 2).mean(axis=1)
                cut = low + (int(np.argmin(energy)) + 0.5) * frame
                out.append({"start": start, "end": cut})
                start = cut
            out.append({"start": start, "end": end})
    return out


def read_samples(wav, start: float, end: float):
    """Float32 samples of [start, end) seconds from an open 16 kHz mono 16-bit WAV."""
    import numpy as np

    rate, total = wav.getframerate(), wav.getnframes()
    first = min(total, max(0, int(start * rate)))
    count = max(0, min(total, int(end * rate)) - first)
    wav.setpos(first)
    return np.frombuffer(wav.readframes(count), dtype=np.int16).astype(np.float32) / 32768.0


def decode_windows(transcribe, audio_path, windows: list[Window], settings: dict, on_window=None) -> list[list[dict]]:
    """Each window's segments, decoded a batch of windows at a time by the engine's transcribe(audio,
    clips), which returns segment dicts (start, end, text, avg_logprob, no_speech_prob,
    compression_ratio, words) timed in the joined audio.

    A window's audio is its speech pieces joined without the pauses between them (gap_seconds of
    silence in their place), as faster-whisper's own VAD path does: across a long pause the decoder
    tends to stop and skip what follows. Times are mapped back piece by piece. The batches are
    decoded `workers` at a time (transcribe must then be safe to call from several threads), each
    read from the WAV when its turn comes: memory holds that many batches, and does not grow with
    the film."""
    at_once = workers(settings)
    groups = batches(windows, batch_size(settings), at_once)
    decode = functools.partial(_decode_batch, transcribe, audio_path, float(settings["gap_seconds"]))
    pool = concurrent.futures.ThreadPoolExecutor(at_once, thread_name_prefix="decode") if at_once > 1 else None
    out: list[list[dict]] = []
    try:
        for group, found in zip(groups, pool.map(decode, groups) if pool else map(decode, groups)):
            out += found
            if on_window:
                on_window(group[-1])
    finally:
        if pool:  # a batch that failed stops the rest: those not started are not decoded
            pool.shutdown(cancel_futures=True)
    return out


def _decode_batch(transcribe, audio_path, gap: float, group: list[Window]) -> list[list[dict]]:
    """Each window's segments for one batch of windows, timed in the job's audio."""
    import numpy as np

    parts, clips, maps, offset = [], [], [], 0.0
    with wave.open(str(audio_path), "rb") as wav:
        for window in group:
            start_offset, mapping = offset, []
            for index, (start, end) in enumerate(window.pieces):
                if index:
                    silence = np.zeros(int(joined_pause(window.pieces[index - 1][1], start, gap) * SAMPLE_RATE),
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


def faster_whisper_decoder(model, settings: dict, language: str, hotwords: str | None):
    """transcribe(audio, clips) by faster-whisper's BatchedInferencePipeline: the clips of a batch of
    windows decoded together, in one batch. Safe to call from several threads: each call has a
    pipeline of its own (a pipeline keeps the last word's time between calls), over the one model,
    whose CTranslate2 workers decode that many batches at once."""
    from faster_whisper import BatchedInferencePipeline

    def transcribe(audio, clips: list[dict]) -> list[dict]:
        segments, _ = BatchedInferencePipeline(model).transcribe(
            audio, language=language, clip_timestamps=clips, batch_size=len(clips),
            word_timestamps=True, beam_size=int(settings["beam_size"]), hotwords=hotwords,
            without_timestamps=bool(settings["without_timestamps"]))
        return [{"start": seg.start, "end": seg.end, "text": seg.text, "avg_logprob": seg.avg_logprob,
                 "no_speech_prob": seg.no_speech_prob, "compression_ratio": seg.compression_ratio,
                 "words": [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                           for w in (seg.words or [])]} for seg in segments]
    return transcribe


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


def short_regions(windows: list[Window], decoded: list[list[dict]], settings: dict) -> list[tuple[int, tuple]]:
    """(window index, region) for each region whose words fall short of its speech: fewer than
    coverage_ratio of what this job's own median rate (words per second of speech, so it fits the
    language and the speaker) predicts, or a stretch of coverage_max_hole seconds with no word.
    When a window holds two voices, or speech after a pause, the batched decoder may end early and
    skip whole sentences: this finds them."""
    counts = []
    for index, (window, segments) in enumerate(zip(windows, decoded)):
        for start, end in window.pieces:
            low, high = start - REGION_TOLERANCE, end + REGION_TOLERANCE
            counts.append((index, (start, end), _words_in(segments, low, high), _holes(segments, low, high)))
    least = float(settings["coverage_min_seconds"])
    expected = _expected_rate([(found, e - s) for _, (s, e), found, _ in counts], settings)
    if expected is None:
        return []
    hole = float(settings["coverage_max_hole"])
    return [(index, region) for index, region, found, longest in counts
            if region[1] - region[0] >= least and (found < expected * (region[1] - region[0]) or longest > hole)]


def _expected_rate(found: list[tuple[int, float]], settings: dict) -> float | None:
    """The fewest words per second of speech a stretch may hold before it counts as short:
    coverage_ratio of the job's median rate over its (words, seconds) stretches of at least
    coverage_min_seconds; None when there is none to judge by."""
    least = float(settings["coverage_min_seconds"])
    rates = sorted(words / seconds for words, seconds in found if seconds >= least)
    return float(settings["coverage_ratio"]) * rates[len(rates) // 2] if rates else None


def faster_whisper_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    """Windows of joined regions decoded in batches; a region whose words fall short of its speech is
    decoded again on its own, and that is recorded."""
    model = load_model(settings)
    probability = None
    audio_path = job_path / "audio.wav"
    if language is None and model.model.is_multilingual:
        language, probability = detect_language(model, audio_path, vad["regions"])
    language = language or "en"
    out, redecoded, windows = decode_checked(faster_whisper_decoder(model, settings, language, hotwords),
                                             audio_path, vad, settings)
    return out, language, probability, {"windows": windows, "redecoded": redecoded}


def decode_alone(transcribe, audio_path, spans: list[tuple[int, tuple]], settings: dict):
    """(window index, span, segments) for each (window index, span) given, the span decoded on its
    own, in batches of like length (a batch decodes as long as its longest)."""
    order = sorted(range(len(spans)), key=lambda i: spans[i][1][1] - spans[i][1][0])
    alone = [Window(s, e, [(s, e)]) for s, e in (spans[i][1] for i in order)]
    found = dict(zip(order, decode_windows(transcribe, audio_path, alone, settings)))
    return [(index, span, found[i]) for i, (index, span) in enumerate(spans)]


def redecode(transcribe, audio_path, windows: list[Window], decoded: list[list[dict]], settings: dict):
    """(window index, region, segments) for each region whose words fell short, decoded again on its
    own (a region that had its window to itself would hear the same audio again, and is left as it
    is). Decoding the short neighbours of a window together first was measured: 13 % less time on real
    speech, but WER 0.111 against 0.108 (bench/README.md)."""
    return decode_alone(transcribe, audio_path, [(index, region) for index, region in short_regions(
        windows, decoded, settings) if len(windows[index].pieces) > 1], settings)


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


def speech_windows(audio_path, vad: dict, settings: dict) -> list[Window]:
    """The VAD stage's regions packed into the windows the faster-whisper and mlx engines decode."""
    return pack(split_long(vad["regions"], audio_path),
                min(float(settings["window_seconds"]), WHISPER_WINDOW),
                float("inf") if settings["window_max_gap"] is None else float(settings["window_max_gap"]),
                joined_gap=float(settings["gap_seconds"]))


def decode_checked(transcribe, audio_path, vad: dict, settings: dict,
                   windows: list[Window] | None = None) -> tuple[list[dict], list[dict], int]:
    """The speech windows (or the windows given) decoded in batches, with progress on the terminal,
    then each region whose words fall short of its speech decoded again on its own, then each
    stretch of a region still without a word by itself; returns the segments in time order, the
    record of what was decoded again and the number of windows."""
    windows = speech_windows(audio_path, vad, settings) if windows is None else windows
    duration = max(vad["duration"], 0.001)

    def progress(window):
        print(f"progress: {min(1.0, window.end / duration):.0%}", file=sys.stderr, flush=True)

    decoded = decode_windows(transcribe, audio_path, windows, settings, on_window=progress)
    # A repetition loop or phantom covers its regions with words that are no speech: they are not
    # counted, so those regions are decoded again; the phantoms go out with the rest, for the guard
    # to drop and record.
    phantoms = [seg for found in decoded for seg in found if phantom(seg, settings)]
    decoded = [[seg for seg in found if not phantom(seg, settings)] for found in decoded]
    redecoded = []
    for index, region, segments in redecode(transcribe, audio_path, windows, decoded, settings):
        before = _words_in(decoded[index], region[0] - REGION_TOLERANCE, region[1] + REGION_TOLERANCE)
        if word_count(segments) > before:
            decoded[index] = _without(decoded[index], [region]) + segments
            redecoded.append({"start": round(region[0], 3), "end": round(region[1], 3),
                              "words_before": before, "words_after": word_count(segments)})
    # Then the stretches still without a word, in regions heard in part, each alone.
    for index, span, segments in decode_alone(transcribe, audio_path, hole_spans(windows, decoded, settings),
                                              settings):
        phantoms += [seg for seg in segments if phantom(seg, settings)]
        segments = [seg for seg in segments if not phantom(seg, settings)]
        if word_count(segments):
            decoded[index] = _without(decoded[index], [span]) + segments
            redecoded.append({"start": round(span[0], 3), "end": round(span[1], 3),
                              "words_before": 0, "words_after": word_count(segments)})
    segments = sorted([seg for found in decoded for seg in found] + phantoms, key=lambda s: s["start"])
    return segments, redecoded, len(windows)


def mlx_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    """The mlx engine (MLX-Whisper: Metal on Apple Silicon, MLX's CPU backend elsewhere): the same
    speech windows, batches, coverage check and records as the faster-whisper engine, decoded
    greedily (MLX-Whisper has no beam search); the model is
    the catalog's mlx-community copy or one converted by ./cache-models.sh --mlx-from, always a local
    directory, so nothing is downloaded."""
    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_whisper.load_models import load_model

    path = catalog.require(settings["model"], "asr", "mlx")
    # float16 on Metal; MLX's CPU backend is faster in float32 (tiny.en on this CPU: 10 s against 14 s).
    dtype = mx.float16 if settings.get("compute_type") == "float16" else mx.float32
    try:
        model = load_model(str(path), dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot load the MLX Whisper model '{settings['model']}' from {path}: {exc} "
                        f"(for a converted copy run ./cache-models.sh --mlx-from {settings['model']} again)")
    if dtype == mx.float32:
        model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype == mx.float16 else p, model.parameters()))
    audio_path = job_path / "audio.wav"
    probability = None
    if language is None and model.is_multilingual:
        language, probability = detect_language(model, audio_path, vad["regions"], mlx_detector(model, dtype))
    language = language or "en"
    out, redecoded, windows = decode_checked(mlx_decoder(model, dtype, settings, language, hotwords),
                                             audio_path, vad, {**settings, "workers": 1})  # one MLX stream
    return out, language, probability, {"windows": windows, "redecoded": redecoded}


def mlx_detector(model, dtype):
    """detector(samples) -> (language, probability) by MLX-Whisper's language detector."""
    from mlx_whisper.audio import N_FRAMES, log_mel_spectrogram, pad_or_trim

    def detect(sample) -> tuple[str, float]:
        mel = pad_or_trim(log_mel_spectrogram(sample, n_mels=model.dims.n_mels), N_FRAMES, axis=-2).astype(dtype)
        _, probs = model.detect_language(mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])
    return detect


def mlx_decoder(model, dtype, settings: dict, language: str, hotwords: str | None):
    """transcribe(audio, clips) by MLX-Whisper's own decoder: the clips (windows) of a batch decoded
    together, greedily, one 30 s window each, then their words timed by cross-attention on the
    encoder output the decoding computed (mlx_whisper.transcribe would run the encoder again for
    the words, and decode the rest of a window again after its last word, where phantoms appear).
    Nothing is skipped here: the guard after decoding drops and records what Whisper wrote where
    nobody speaks, for every engine alike."""
    import mlx.core as mx
    from mlx_whisper.audio import N_FRAMES, log_mel_spectrogram, pad_or_trim
    from mlx_whisper.decoding import DecodingOptions, decode
    from mlx_whisper.timing import add_word_timestamps
    from mlx_whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages, language=language,
                              task="transcribe")
    prompt = tokenizer.encode(" " + hotwords.strip()) if hotwords else None
    options = DecodingOptions(language=language, task="transcribe", temperature=0.0, prompt=prompt,
                              without_timestamps=bool(settings["without_timestamps"]), fp16=dtype == mx.float16)

    class Encoded:
        """The model, with the encoder output of one window already computed."""

        def __init__(self, features):
            self.features = features

        def __getattr__(self, name):
            return getattr(model, name)

        def forward_with_cross_qk(self, _mel, tokens):
            logits, _, cross_qk = model.decoder(tokens, self.features[None])
            return logits, cross_qk

    def transcribe(audio, clips: list[dict]) -> list[dict]:
        mels, frames = [], []
        for clip in clips:
            first, last = round(clip["start"] * SAMPLE_RATE), round(clip["end"] * SAMPLE_RATE)
            mel = log_mel_spectrogram(audio[first:last], n_mels=model.dims.n_mels)
            frames.append(min(N_FRAMES, mel.shape[0]))
            mels.append(pad_or_trim(mel, N_FRAMES, axis=-2).astype(dtype))
        out = []
        for clip, mel, count, result in zip(clips, mels, frames, decode(model, mx.stack(mels), options)):
            length = clip["end"] - clip["start"]
            segment = {"seek": 0, "start": 0.0, "end": length, "tokens": result.tokens}
            add_word_timestamps(segments=[segment], model=Encoded(result.audio_features), tokenizer=tokenizer,
                                mel=mel, num_frames=count, last_speech_timestamp=0.0)
            shift = clip["start"]
            out.append({"start": segment["start"] + shift, "end": min(segment["end"], length) + shift,
                        "text": result.text, "avg_logprob": result.avg_logprob,
                        "no_speech_prob": result.no_speech_prob, "compression_ratio": result.compression_ratio,
                        "words": [{"start": w["start"] + shift, "end": min(w["end"], length) + shift,
                                   "word": w["word"], "probability": w["probability"]}
                                  for w in segment.get("words") or []]})
        return out
    return transcribe


def alignment_model(language: str | None):
    """The cached alignment model for the language, or None (with the reason)."""
    if not language:
        return None, "the language is unknown"
    for model in catalog.load():
        if model.stage == "align" and language in model.languages:
            path = catalog.snapshot(model)
            if path is None:
                return None, f"{model.repo} is not cached (./cache-models.sh --model {model.key})"
            punkt = config.cache_paths()["nltk_data"] / "tokenizers" / "punkt_tab" / "english"
            if not punkt.is_dir():
                return None, (f"NLTK's punkt_tab sentence splitter is not cached "
                              f"(./cache-models.sh --model {model.key} fetches it)")
            return path, ""
    return None, f"the catalog has no alignment model for '{language}'"


def whisperx_segments(job_path, vad: dict, settings: dict, language: str | None, hotwords: str | None):
    import torch

    threads = int(settings.get("threads") or 1)
    torch.set_num_threads(threads)
    import whisperx
    from whisperx.diarize import Segment
    from whisperx.vads.vad import Vad

    device = settings["device"]
    align_path, why_not = alignment_model(language) if settings["align"] else (None, "align is off")
    # Aligned, chunks join up to WhisperX's 30 s (fewer windows, the same words); unaligned, each
    # speech region stays its own segment so cue times keep the VAD's edges.
    chunk_size = float(settings["chunk_size"] if settings["chunk_size"] is not None
                       else (WHISPER_WINDOW if align_path else 0))
    windows = pack(split_long(vad["regions"], job_path / "audio.wav"), min(chunk_size, WHISPER_WINDOW))
    regions = [(w.start, w.end) for w in windows]  # what GivenRegions hands to WhisperX

    class GivenRegions(Vad):
        """The VAD stage's regions, handed to WhisperX in place of its own VAD run."""

        def __init__(self):
            super().__init__(0.5)

        @staticmethod
        def preprocess_audio(audio):
            return audio

        def __call__(self, _audio):
            return [Segment(start, end, None) for start, end in regions]

    path = catalog.require(settings["model"], "asr")
    try:
        model = whisperx.load_model(
            str(path), device, compute_type=settings["compute_type"], language=language,
            vad_model=GivenRegions(), threads=threads, local_files_only=True,
            asr_options={"beam_size": int(settings["beam_size"]), "hotwords": hotwords,
                         "condition_on_previous_text": bool(settings["condition_on_previous_text"])})
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot load Whisper model '{settings['model']}' from {path}: {damaged(exc)}")
    probability = None
    if language is None and model.model.model.is_multilingual:
        language, probability = detect_language(model.model, job_path / "audio.wav", vad["regions"])
    audio = whisperx.load_audio(str(job_path / "audio.wav"))
    batch = max(1, int(settings["batch_size"]))
    result = model.transcribe(  # chunk_size ~0: WhisperX joins nothing more, the chunks are made above
        audio, batch_size=batch, chunk_size=1e-3, language=language,
        progress_callback=lambda pct: print(f"progress: {pct / 100:.0%}", file=sys.stderr, flush=True))
    language = result["language"]
    redecoded = []
    short = short_windows(windows, result["segments"], settings)
    if short:  # decode the windows that fell short again, region by region
        regions[:] = [piece for index in short for piece in windows[index].pieces]
        again = model.transcribe(audio, batch_size=batch, chunk_size=1e-3, language=language)["segments"]
        for index in short:
            window = windows[index]
            before = [s for s in result["segments"] if _within(s, window.start, window.end)]
            after = [s for s in again if _within(s, window.start, window.end)]
            if word_count(after) > word_count(before):
                result["segments"] = [s for s in result["segments"] if s not in before] + after
                redecoded.append({"start": round(window.start, 3), "end": round(window.end, 3),
                                  "words_before": word_count(before), "words_after": word_count(after)})
        result["segments"].sort(key=lambda s: s["start"])
    decoding = {"windows": len(windows), "redecoded": redecoded}
    segments = [{"start": s["start"], "end": s["end"], "text": s["text"], "words": []} for s in result["segments"]]
    if align_path is None and settings["align"]:
        align_path, why_not = alignment_model(language)  # the language was detected just now
    if align_path is None:
        print(f"note: no word alignment ({why_not}); cues follow the speech regions", file=sys.stderr, flush=True)
        return segments, language, probability, False, decoding
    align_model, metadata = whisperx.load_align_model(language, device, model_name=str(align_path))
    aligned = whisperx.align(result["segments"], align_model, metadata, audio, device)
    segments = []
    for seg in aligned["segments"]:
        words = timed_words(seg.get("words") or [], float(seg["start"]), float(seg["end"]))
        segments.append({"start": seg["start"], "end": seg["end"], "text": seg["text"], "words": words})
    return segments, language, probability, True, decoding


def _within(segment: dict, start: float, end: float) -> bool:
    return start - REGION_TOLERANCE <= _middle(segment) <= end + REGION_TOLERANCE


def short_windows(windows: list[Window], segments: list[dict], settings: dict) -> list[int]:
    """Windows of several regions whose text falls short of their speech: fewer words than
    coverage_ratio of the job's median words per second of speech predicts (WhisperX gives no word
    times before alignment, so the whole window's text is what can be counted)."""
    counts = [(i, word_count([s for s in segments if _within(s, w.start, w.end)]), w.speech)
              for i, w in enumerate(windows)]
    expected = _expected_rate([(words, speech) for _, words, speech in counts], settings)
    if expected is None:
        return []
    least = float(settings["coverage_min_seconds"])
    return [i for i, words, speech in counts
            if len(windows[i].pieces) > 1 and speech >= least and words < expected * speech]


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


def timed_words(words: list[dict], start: float, end: float) -> list[dict]:
    """Alignment leaves some words (digits, symbols the model has no letter for) without times: they
    take the gap between their timed neighbours."""
    out = []
    for i, word in enumerate(words):
        w_start = word.get("start")
        w_end = word.get("end")
        if w_start is None or w_end is None:
            w_start = out[-1]["end"] if out else start
            later = [w["start"] for w in words[i + 1:] if w.get("start") is not None]
            w_end = max(w_start, later[0] if later else end)
        out.append({"start": float(w_start), "end": float(w_end), "word": " " + word["word"].strip(),
                    "probability": word.get("score")})
    return out


def main() -> int:
    job_path, job, settings = stage_args("asr")
    vad = schema.read(job_path / "vad.json")
    source = job["source_language"]
    language = None if source == "auto" else source.partition("-")[0]
    if settings["model"].endswith(".en"):
        language = "en"  # English-only models have no language token to detect
    engine = settings["engine"]
    transcript = {"language": language, "language_probability": None, "duration": vad["duration"],
                  "engine": engine, "model": settings["model"], "segments": []}
    hotwords = glossary.load(job_path).hotwords() or None
    transcript["hotwords"] = hotwords
    if vad["regions"]:
        if engine == "whisperx":
            segments, detected, probability, aligned, decoding = whisperx_segments(
                job_path, vad, settings, language, hotwords)
            transcript["aligned"] = aligned
            transcript["decoding"] = decoding
        else:
            engine_segments = mlx_segments if engine == "mlx" else faster_whisper_segments
            segments, detected, probability, decoding = engine_segments(job_path, vad, settings, language, hotwords)
            transcript["decoding"] = decoding
        segments, transcript["dropped"] = guard(segments, vad["regions"], settings)
        transcript["language"] = detected
        transcript["language_probability"] = round(probability, 3) if probability is not None else None
        for index, seg in enumerate(segments):
            text = seg["text"].strip()
            if not text:
                continue
            transcript["segments"].append({
                "id": index, "start": round(seg["start"], 3), "end": round(seg["end"], 3), "text": text,
                "language": detected,
                "words": [{"start": round(w["start"], 3), "end": round(w["end"], 3), "word": w["word"],
                           "probability": round(w["probability"], 3) if w.get("probability") is not None else None}
                          for w in seg["words"]],
            })
    if not transcript["segments"]:
        heard = "no speech" if not vad["regions"] else "speech-like sound but no words"
        print(f"warning: no speech found ({heard} in {vad['duration']:.1f} s of audio): the subtitles "
              "will be empty", flush=True)
    schema.write(job_path / "transcript.json", transcript)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr")
