#!/usr/bin/env python3
"""Make a sample video of spoken English at known times, with Python and ffmpeg only.

The English sample's speech is committed (scripts/sample/sample.en.flac, about 0.25 MB, made once with
espeak-ng by --speak): ffmpeg adds a test-pattern video track to it. Other sentences, languages or
gaps are spoken on the spot by espeak-ng (--speak), cut of espeak's own leading and trailing silence
by ffmpeg and joined with silence of known length here, so each sentence's start and end are known.

Usage: scripts/make_sample.py [OUT.mp4] [--lang en] [--gap 1.0] [--speak]
Writes OUT.mp4 and OUT.truth.json (each sentence's text, start and end in seconds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
RATE = 16000
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
DEFAULT_GAP, DEFAULT_LEAD = 1.0, 0.5
# Three voices a speaker encoder tells apart (see _speech_wav), for dialogues with known turns
VOICES = ("en-us+m3", "en-gb+f3@1.2", "en-us+m7@0.85")
DIALOGUE = [(0, "Where did you park the car?"), (1, "Behind the old cinema, near the bank."),
            (0, "Did you lock it this time?"), (1, "Of course I did. I always lock it."),
            (2, "Last week you left the window open."), (1, "That was only once, and it was raining."),
            (0, "We should leave before the traffic starts."), (2, "Give me five minutes to find my keys."),
            (1, "They are on the table by the door."), (2, "Thank you. Let us go now.")]
DIALOGUE_GAPS = [0.4, 0.3, 0.6, 0.8, 0.35, 0.5, 0.4, 0.3, 0.45, 1.0]  # quick exchanges, some under 0.5 s
# The committed sample's voice: espeak-ng's clearest English (Received Pronunciation).
SAMPLE_VOICE = {"en": "en-gb-x-rp"}
PACKAGE = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "espeak-ng": "espeak-ng"}  # program -> package


class ToolMissing(Exception):
    """A program this script runs is not installed; the message names the package."""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        package = PACKAGE[tool]
        raise ToolMissing(f"{tool} not found: install {package} (Debian/Ubuntu: sudo apt-get install {package}; "
                          f"macOS: brew install {package}) and run the command again")
    return path


def _run(cmd: list[str]) -> None:
    _need(cmd[0])
    subprocess.run(cmd, check=True, capture_output=True)


def _speech_wav(text: str, voice: str, out: Path, tmp: Path) -> None:
    """espeak-ng speaks the text; ffmpeg makes it 16 kHz mono and trims the silence around it.

    A voice may end in @FACTOR ("en-us+m3@1.15"): the speech is played that much faster, which moves
    its pitch and formants together, as a shorter or longer vocal tract would. espeak-ng's own
    variants share one formant model, and a speaker encoder hears them as nearly one voice (GE2E:
    cosine 0.71 between variants against 0.79 within one); shifted by 15 %, they are as far apart
    as two people (0.50-0.63).

    Resampled by soxr where ffmpeg has it: on espeak's 22.05 kHz speech resampled by ffmpeg's default
    resampler, pyannote's segmentation model merged six sentences a second apart into two regions."""
    raw = tmp / "raw.wav"
    voice, _, factor = voice.partition("@")
    _run(["espeak-ng", "-v", voice, "-w", str(raw), text])
    shift = ""
    if factor:
        with wave.open(str(raw), "rb") as wav:
            shift = f"asetrate={round(wav.getframerate() * float(factor))},"
    trim = "silenceremove=start_periods=1:start_threshold=-46dB"
    for resampler in ("soxr", "swr"):
        try:
            _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(raw), "-af",
                  f"{shift}aresample={RATE}:resampler={resampler},{trim},areverse,{trim},areverse", "-ac", "1",
                  "-c:a", "pcm_s16le", str(out)])
            return
        except subprocess.CalledProcessError:
            if resampler == "swr":
                raise


def speak(sentences: list[str], voice: str | list[str], gap: float | list[float], lead: float,
          out_wav: Path) -> list[dict]:
    """The sentences spoken one after another with `gap` seconds between them into one WAV. A list
    of voices (one per sentence) makes a dialogue, and its truth names each sentence's voice; a list
    of gaps gives each pause its own length."""
    truth, frames, t = [], [b"\0\0" * int(lead * RATE)], lead
    voices = voice if isinstance(voice, list) else [voice] * len(sentences)
    gaps = gap if isinstance(gap, list) else [gap] * len(sentences)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for text, spoken_by, pause in zip(sentences, voices, gaps):
            _speech_wav(text, spoken_by, tmp / "s.wav", tmp)
            with wave.open(str(tmp / "s.wav"), "rb") as wav:
                pcm = wav.readframes(wav.getnframes())
            length = len(pcm) / 2 / RATE
            truth.append({"text": text, "start": round(t, 3), "end": round(t + length, 3),
                          **({"voice": spoken_by} if isinstance(voice, list) else {})})
            frames += [pcm, b"\0\0" * int(pause * RATE)]
            t += length + int(pause * RATE) / RATE
    with wave.open(str(out_wav), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"".join(frames))
    return truth


def _duration(audio: Path) -> float:
    probe = subprocess.run([_need("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(audio)], check=True, capture_output=True, text=True)
    return float(probe.stdout.strip())


def _video(audio: Path, out: Path) -> float:
    total = _duration(audio)
    _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
          f"testsrc=size=320x240:rate=10:duration={total:.3f}", "-i", str(audio),
          "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
          "-shortest", str(out)])
    return total


def make(out: Path, lang: str = "en", gap: float | list[float] = DEFAULT_GAP, lead: float = DEFAULT_LEAD,
         sentences: list[str] | None = None, speak_now: bool = False, voice: str | list[str] | None = None) -> dict:
    """The sample video and its truth. The committed English speech unless other sentences, another
    language or other timings are asked for (or speak_now): then espeak-ng speaks them, in `voice`
    (default: the language's own voice; the sample's voice for the sample's sentences; a list: each
    sentence's voice, a dialogue)."""
    committed = SAMPLE_DIR / f"sample.{lang}.flac"
    stock = sentences is None and gap == DEFAULT_GAP and lead == DEFAULT_LEAD and not speak_now
    for tool in ("ffmpeg", "ffprobe") + (() if stock and committed.exists() else ("espeak-ng",)):
        _need(tool)
    out.parent.mkdir(parents=True, exist_ok=True)
    if stock and committed.exists():
        truth = json.loads((SAMPLE_DIR / f"sample.{lang}.truth.json").read_text(encoding="utf-8"))["sentences"]
        total = _video(committed, out)
    else:
        with tempfile.TemporaryDirectory() as tmp_name:
            audio = Path(tmp_name) / "audio.wav"
            voice = voice or (lang if sentences else SAMPLE_VOICE.get(lang, lang))
            truth = speak(sentences or SENTENCES[lang], voice, gap, lead, audio)
            total = _video(audio, out)
    data = {"language": lang, "duration": round(total, 3), "sentences": truth}
    out.with_suffix(".truth.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="in/sample.mp4")
    parser.add_argument("--lang", default="en", help="espeak-ng voice for --speak (the committed sample is en)")
    parser.add_argument("--gap", type=float, default=DEFAULT_GAP, help="silence between sentences (s)")
    parser.add_argument("--speak", action="store_true", help="speak the sentences now with espeak-ng")
    args = parser.parse_args()
    if args.lang not in SENTENCES:
        print(f"make_sample.py: error: no sentences for '{args.lang}' (choose: {', '.join(SENTENCES)})",
              file=sys.stderr)
        return 2
    try:
        data = make(Path(args.out), args.lang, args.gap, speak_now=args.speak)
    except ToolMissing as exc:
        print(f"make_sample.py: error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        print(f"make_sample.py: error: {Path(exc.cmd[0]).name} failed ({detail[-1] if detail else exc.returncode})",
              file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({data['duration']} s, {len(data['sentences'])} sentences) and its .truth.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
