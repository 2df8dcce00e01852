"""Voice embeddings of the speech, in short overlapping windows.

resemblyzer's GE2E encoder (Apache-2.0) is the one speaker encoder whose trained weights ship inside
a PyPI wheel (resemblyzer/pretrained.pt, 17 MB): no hub, no token, no GPU. Its mel frames are 10 ms;
a window of window_seconds (its own partial utterance is 1.6 s) moves by hop_seconds through each
speech region of the VAD stage, and never across a pause, so a window hears one speaker unless the
turn changes inside a region. Each region's loudness is normalised first (resemblyzer's own -30 dBFS),
so a quiet speaker is not a different one. Windows are embedded in batches.

The encoder hears 40-band mel power spectra of 25 ms frames every 10 ms. resemblyzer computes them
with librosa, whose first call imports 2.5 s of modules (scipy.signal, numba): more than the encoder
spends on ten minutes of speech. Here torch.stft does the transform, with librosa's defaults (a
periodic Hann window, frames centred, zero padding), and the Slaney mel filter bank is built once
from its formula (tests/test_speakers.py checks both against librosa to 1e-5).
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


N_FFT, HOP, N_MELS = 400, 160, 40  # resemblyzer's hparams at 16 kHz: 25 ms windows, 10 ms steps, 40 bands


def _mel_hz(mels):
    """Slaney's mel scale back to Hz: linear (200/3 Hz a mel) to 1 kHz, logarithmic above."""
    import numpy as np

    mels = np.asarray(mels, dtype=np.float64)
    linear = 200.0 / 3 * mels
    step, edge = np.log(6.4) / 27.0, 1000.0 / (200.0 / 3)
    return np.where(mels >= edge, 1000.0 * np.exp(step * (mels - edge)), linear)


def _hz_mel(hz: float) -> float:
    import math

    edge = 1000.0 / (200.0 / 3)
    return hz / (200.0 / 3) if hz < 1000.0 else edge + math.log(hz / 1000.0) / (math.log(6.4) / 27.0)


def mel_filters(rate: int = 16000, n_fft: int = N_FFT, n_mels: int = N_MELS):
    """The Slaney-normalised triangular mel filter bank (n_mels x n_fft/2+1), as librosa.filters.mel."""
    import numpy as np

    bins = np.linspace(0, rate / 2, 1 + n_fft // 2)
    edges = _mel_hz(np.linspace(_hz_mel(0.0), _hz_mel(rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def mel_spectrogram(samples, filters):
    """(frames, 40) mel power spectrum of float32 samples, as resemblyzer's wav_to_mel_spectrogram."""
    import torch

    window = torch.hann_window(N_FFT, periodic=True)
    spectrum = torch.stft(torch.from_numpy(samples), N_FFT, HOP, N_FFT, window, center=True, pad_mode="constant",
                          return_complex=True).abs() ** 2
    return (torch.from_numpy(filters) @ spectrum).T.numpy()


def load_encoder(threads: int):
    import torch
    from resemblyzer import VoiceEncoder

    torch.set_num_threads(max(1, threads))
    return VoiceEncoder("cpu", verbose=False)


def embed(audio_path: Path, regions: list[dict], window: float, hop: float, threads: int = 1):
    """(windows, embeddings): an L2-normalised 256-dimensional GE2E embedding per window."""
    import numpy as np
    import torch
    from resemblyzer.audio import normalize_volume

    samples = read_wav(audio_path)
    encoder = load_encoder(threads)
    filters = mel_filters()
    placed = windows_of(regions, window, hop)
    mels: dict[int, object] = {}
    frames = []
    for index, win in placed:
        if index not in mels:
            region = regions[index]
            piece = samples[int(float(region["start"]) * 16000):int(float(region["end"]) * 16000)]
            mels[index] = (float(region["start"]), mel_spectrogram(normalize_volume(piece, -30), filters))
        origin, mel = mels[index]
        first = max(0, round((win.start - origin) / FRAME))
        frames.append(mel[first:first + round((win.end - win.start) / FRAME)])
    keep = [i for i, f in enumerate(frames) if len(f) >= MIN_SECONDS / FRAME]
    # A window shorter than the others (a short piece of speech) is its own frames repeated to their
    # length: then every batch is full, and the encoder runs a few large steps instead of many small
    # ones (594 windows: 10 batches, not 83). Repeated, not padded with silence: the encoder's last
    # state after a second of silence is no longer the voice (padded, a three-voice dialogue of ten
    # minutes came out as four speakers).
    size = round(window / FRAME)
    out = np.zeros((len(keep), 256), dtype=np.float32)
    with torch.no_grad():
        for k in range(0, len(keep), BATCH):
            chunk = keep[k:k + BATCH]
            batch = np.zeros((len(chunk), size, frames[chunk[0]].shape[1]), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row] = np.resize(frames[i], (size, frames[i].shape[1]))  # repeats the rows to fill
            out[k:k + len(chunk)] = encoder(torch.from_numpy(batch)).numpy()
    return [placed[i][1] for i in keep], [placed[i][0] for i in keep], out
