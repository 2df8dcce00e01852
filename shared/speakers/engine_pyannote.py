"""pyannote's speaker diarization pipeline (3.1), the speakers stage's second engine, in the whisperx
venv (pyannote.audio). Its models are gated on the hub: a user with a token fetches them once
(./cache-models.sh --model pyannote-speaker-diarization-3.1, and the segmentation and embedding
models it names), and from then on it runs offline: the pipeline's own config is read from the cache
and given to pyannote.audio as a dictionary whose segmentation and embedding are the cached weight
files, so nothing is asked of the hub.
"""

from __future__ import annotations

from pathlib import Path

from shared.speakers.embed import Window, read_wav


def turns(config_path: Path, segmentation: Path, embedding: Path, audio_path: Path, count: int | None,
          most: int, threads: int) -> tuple[list[Window], list[int]]:
    """(windows, labels): each speaker turn pyannote found, with its speaker's number."""
    import torch
    import yaml
    from pyannote.audio import Pipeline

    torch.set_num_threads(max(1, threads))
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    params = config["pipeline"]["params"]
    # pyannote picks the embedding's loader by its path: the cache's models--pyannote--... path names it
    params["segmentation"], params["embedding"] = str(segmentation), str(embedding)
    pipeline = Pipeline.from_pretrained(config)
    samples = torch.from_numpy(read_wav(audio_path)).unsqueeze(0)
    asked = {"num_speakers": count} if count else {"max_speakers": most}
    found = pipeline({"waveform": samples, "sample_rate": 16000}, **asked)
    annotation = getattr(found, "speaker_diarization", found)  # pyannote.audio 4 wraps it
    windows, labels, names = [], [], {}
    for segment, _, speaker in annotation.itertracks(yield_label=True):
        windows.append(Window(float(segment.start), float(segment.end)))
        labels.append(names.setdefault(speaker, len(names)))
    return windows, labels
