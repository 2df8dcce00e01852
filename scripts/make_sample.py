#!/usr/bin/env python3
"""Make a sample video with spoken English at known times: espeak-ng speaks each sentence, sox
resamples it and pads silence between sentences, ffmpeg adds a test-pattern video track.

Usage: scripts/make_sample.py [OUT.mp4] [--lang en] [--gap 1.0]
Writes OUT.mp4 and OUT.truth.json (each sentence's text, start and end in seconds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SENTENCES = {
    "en": [
        "Good morning, and welcome to the evening news.",
        "The monsoon arrived early this year in Kerala.",
        "Farmers in the north are hoping for steady rain.",
        "The river rose slowly through the night.",
        "Schools will remain open on Monday.",
        "Thank you for listening, and have a good day.",
    ],
}


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _duration(wav: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(wav)], check=True, capture_output=True, text=True).stdout)


def make(out: Path, lang: str = "en", gap: float = 1.0, lead: float = 0.5, sentences: list[str] | None = None) -> dict:
    sentences = sentences or SENTENCES[lang]
    out.parent.mkdir(parents=True, exist_ok=True)
    truth, parts, t = [], [], lead
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        silence = tmp / "gap.wav"
        _run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0", str(gap)])
        lead_wav = tmp / "lead.wav"
        _run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(lead_wav), "trim", "0", str(lead)])
        parts.append(lead_wav)
        for i, text in enumerate(sentences):
            raw, wav = tmp / f"raw{i}.wav", tmp / f"s{i}.wav"
            _run(["espeak-ng", "-v", lang, "-w", str(raw), text])
            # espeak pads each utterance with silence; trim it so the truth times are the speech
            _run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav),
                  "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"])
            length = _duration(wav)
            truth.append({"text": text, "start": round(t, 3), "end": round(t + length, 3)})
            parts += [wav, silence]
            t += length + gap
        audio = tmp / "audio.wav"
        _run(["sox", *map(str, parts), str(audio)])
        total = _duration(audio)
        _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
              f"testsrc=size=320x240:rate=10:duration={total:.3f}", "-i", str(audio),
              "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
              "-shortest", str(out)])
    data = {"language": lang, "duration": round(total, 3), "sentences": truth}
    out.with_suffix(".truth.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="in/sample.mp4")
    parser.add_argument("--lang", default="en", choices=sorted(SENTENCES))
    parser.add_argument("--gap", type=float, default=1.0, help="silence between sentences (s)")
    args = parser.parse_args()
    data = make(Path(args.out), args.lang, args.gap)
    print(f"wrote {args.out} ({data['duration']} s, {len(data['sentences'])} sentences) and its .truth.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
