"""Speech windows: the VAD stage's regions packed into what Whisper hears at a time.

Decoding a 3 s region alone costs a full 30 s window; packed, neighbours joined up to 30 s of heard
audio, the windows are few and the decoder hears each sentence in context (fewer errors on the
sample: WER 0.0 against 0.043 with base). A region longer than a window is cut where the audio is
quietest. Samples are read from the demux stage's WAV a window at a time, never the whole film.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass, field


DETECTION_SECONDS = 30.0  # one Whisper window of speech decides the language


SAMPLE_RATE = 16000  # the demux stage's WAV


WHISPER_WINDOW = 30.0  # seconds Whisper hears at a time


@dataclass
class Window:
    """Speech regions decoded together in one Whisper window (times in seconds of the job's audio)."""
    start: float
    end: float
    pieces: list[tuple[float, float]] = field(default_factory=list)
    gap: float | None = None  # the silence joined in place of each pause (None: the caller's gap_seconds)

    @property
    def speech(self) -> float:
        return sum(e - s for s, e in self.pieces)

    @property
    def joins(self) -> int:
        """Pauses between the pieces (none between the parts of one region)."""
        return sum(1 for a, b in zip(self.pieces, self.pieces[1:]) if b[0] - a[1] > 1e-6)

    def pause(self, gap: float) -> float:
        """The silence joined in place of each pause: the window's own gap, else the caller's."""
        return gap if self.gap is None else self.gap

    def heard(self, gap: float) -> float:
        """Seconds of audio the decoder hears: the pieces, with the silence joined between them."""
        return self.speech + sum(joined_pause(a[1], b[0], gap) for a, b in zip(self.pieces, self.pieces[1:]))


def joined_pause(end: float, start: float, gap: float) -> float:
    """The silence put between two joined pieces: gap seconds in place of the pause between two speech
    regions, whatever its length (a fixed gap measured better than the natural pause, even capped:
    bench/README.md); none between the parts of one region cut where it was quietest."""
    return gap if start - end > 1e-6 else 0.0


def pack(regions: list[dict], merge_up_to: float, max_gap: float = float("inf"),
         joined_gap: float | None = None, least_gap: float | None = None) -> list[Window]:
    """The regions as Whisper windows: neighbours joined while the window stays within merge_up_to
    seconds (0: never joined) and the pause between them is under max_gap; a region longer than
    Whisper's window is cut into equal parts.

    What must fit in merge_up_to is what the decoder hears: the window's span, pauses and all (the
    whisperx engine slices the audio so), or with joined_gap its speech pieces with joined_gap
    seconds between them (the faster-whisper path joins them so). With least_gap too, a region that
    would fit only with shorter silences still joins: that window's gap (Window.gap) is the longest,
    at most joined_gap and at least least_gap, that keeps it within merge_up_to. Dense speech then
    takes as few windows as the bare engine's (speech joined end to end) and sparse speech keeps
    joined_gap."""
    least = joined_gap if joined_gap is None or least_gap is None else min(float(least_gap), joined_gap)
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
        return window.heard(least) + joined_pause(window.end, start, least) + (end - start)

    for start, end in pieces:
        if out and heard(out[-1], start, end) <= merge_up_to and start - out[-1].end < max_gap:
            out[-1].end = end
            out[-1].pieces.append((start, end))
        else:
            out.append(Window(start, end, [(start, end)]))
    if joined_gap is not None and least != joined_gap:
        for window in out:
            if window.joins and window.heard(joined_gap) > merge_up_to:
                # 1 ms to spare: the silence is cut to whole samples, and no window may pass merge_up_to
                window.gap = max(least, (merge_up_to - window.speech - 1e-3) / window.joins)
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


def speech_windows(audio_path, vad: dict, settings: dict) -> list[Window]:
    """The VAD stage's regions packed into the windows the faster-whisper and mlx engines decode."""
    return pack(split_long(vad["regions"], audio_path),
                min(float(settings["window_seconds"]), WHISPER_WINDOW),
                float("inf") if settings["window_max_gap"] is None else float(settings["window_max_gap"]),
                joined_gap=float(settings["gap_seconds"]), least_gap=settings.get("least_gap_seconds"))
