"""Voice embeddings of the speech, in short overlapping windows.

resemblyzer's GE2E encoder (Apache-2.0) is the one speaker encoder whose trained weights ship inside
a PyPI wheel (resemblyzer/pretrained.pt, 17 MB): no hub, no token, no GPU. Its mel frames are 10 ms;
a window of window_seconds (its own partial utterance is 1.6 s) moves by hop_seconds through each
speech region of the VAD stage, and never across a pause, so a window hears one speaker unless the
turn changes inside a region. Each region's loudness is normalised first (resemblyzer's own -30 dBFS),
so a quiet speaker is not a different one. Windows of equal length are embedded in batches.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

FRAME = 0.01  # seconds per mel frame (resemblyzer's hparams: 10 ms)
MIN_SECONDS = 0.4  # a region shorter than this carries too little voice to tell a speaker by
BATCH = 64


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def read_wav(path: Path):
    """The job's 16 kHz mono PCM audio as float32 samples."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    if rate != 16000:
        raise ValueError(f"{path} is {rate} Hz; the demux stage writes 16 kHz")
    return samples


def pieces(regions: list[dict], segments: list[dict], pause: float) -> list[dict]:
    """The speech regions cut at every pause of at least `pause` seconds between two words: speakers
    take turns at pauses, and the VAD joins speech across pauses shorter than its own minimum
    silence, so a window never hears both sides of a pause the words show."""
    words = sorted((float(w["start"]), float(w["end"])) for seg in segments for w in seg.get("words") or [])
    cuts = [(a_end, b_start) for (_, a_end), (b_start, _) in zip(words, words[1:]) if b_start - a_end >= pause]
    out = []
    for region in regions:
        start, end = float(region["start"]), float(region["end"])
        for gap_start, gap_end in cuts:
            if start < gap_start and gap_end < end:
                out.append({"start": start, "end": gap_start})
                start = gap_end
        out.append({"start": start, "end": end})
    return out


def windows_of(regions: list[dict], window: float, hop: float) -> list[tuple[int, Window]]:
    """(region index, window) for each window of the speech: window seconds long, every hop seconds,
    the last one ending with its region; a region shorter than a window is one window."""
    out = []
    for index, region in enumerate(regions):
        start, end = float(region["start"]), float(region["end"])
        if end - start < MIN_SECONDS:
            continue
        if end - start <= window:
            out.append((index, Window(start, end)))
            continue
        t = start
        while t + window < end - 1e-6:
            out.append((index, Window(t, t + window)))
            t += hop
        out.append((index, Window(end - window, end)))
    return out


def load_encoder(threads: int):
    import torch
    from resemblyzer import VoiceEncoder

    torch.set_num_threads(max(1, threads))
    return VoiceEncoder("cpu", verbose=False)


def embed(audio_path: Path, regions: list[dict], window: float, hop: float, threads: int = 1):
    """(windows, embeddings): an L2-normalised 256-dimensional GE2E embedding per window."""
    import numpy as np
    import torch
    from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram

    samples = read_wav(audio_path)
    encoder = load_encoder(threads)
    placed = windows_of(regions, window, hop)
    mels: dict[int, object] = {}
    frames = []
    for index, win in placed:
        if index not in mels:
            region = regions[index]
            piece = samples[int(float(region["start"]) * 16000):int(float(region["end"]) * 16000)]
            mels[index] = (float(region["start"]), wav_to_mel_spectrogram(normalize_volume(piece, -30)))
        origin, mel = mels[index]
        first = max(0, round((win.start - origin) / FRAME))
        frames.append(mel[first:first + round((win.end - win.start) / FRAME)])
    keep = [i for i, f in enumerate(frames) if len(f) >= MIN_SECONDS / FRAME]
    out = np.zeros((len(keep), 256), dtype=np.float32)
    by_length: dict[int, list[int]] = {}
    for row, i in enumerate(keep):
        by_length.setdefault(len(frames[i]), []).append(row)
    with torch.no_grad():
        for rows in by_length.values():
            for k in range(0, len(rows), BATCH):
                chunk = rows[k:k + BATCH]
                batch = torch.from_numpy(np.stack([frames[keep[r]] for r in chunk])).float()
                out[chunk] = encoder(batch).numpy()
    return [placed[i][1] for i in keep], [placed[i][0] for i in keep], out
