"""prepare-job.sh: validate a request and create out/<job-id>/job.json.

Everything is checked before anything is created: the media file (probed with ffprobe), the
workflow, the languages, the clip times, the engine. The job id is the last line of standard output,
alone, so scripts can capture it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import sys
from pathlib import Path

from shared.core import config, languages, media, schema
from shared.core.errors import UserError, run_cli
from shared.jobs import batches, job_dirs, workflows
from shared.models import asr_routes, catalog
from shared.subtitles import reader
from shared.translation import glossary, llm, plan, romanize


# CTranslate2's compute types (faster-whisper passes them through).
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
                 "float16", "bfloat16", "float32")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prepare-job.sh", description="Create a subtitle job from a media file "
                                     "(or from subtitles you already have, with --subs).")
    parser.add_argument("--media", action="append", default=[], metavar="FILE|DIR",
                        help="audio or video file; several --media, or a folder (its media files, recursively), "
                             "make a batch: one job per file, run together with ./run-pipeline.sh -b BATCH")
    parser.add_argument("--glob", metavar="PATTERN", help="with a folder: the files to take (e.g. '*.mkv'; "
                        "default: every audio and video file)")
    parser.add_argument("--subs", metavar="FILE", help="subtitles you already have (.srt, .vtt, .ass) to translate "
                        "without ASR: the subs workflow (with --media too, the results are muxed into it)")
    parser.add_argument("--workflow", choices=list(workflows.WORKFLOWS),
                        help="transcribe | translate | subtitle | subs (the default with --subs)")
    parser.add_argument("-s", "--source", required=True, help="spoken language (ISO 639-1, e.g. hi; auto to detect)")
    parser.add_argument("-t", "--target", default="", help="target language(s), comma-separated (translate, subtitle)")
    parser.add_argument("--start", help="clip start, HH:MM:SS")
    parser.add_argument("--end", help="clip end, HH:MM:SS")
    parser.add_argument("--engine", help="ASR engine: " + ", ".join(config.engines("asr")))
    parser.add_argument("--vad", help="VAD engine: " + ", ".join(config.engines("vad")))
    parser.add_argument("--model", help="ASR model size or name (e.g. tiny.en, small, large-v3)")
    parser.add_argument("--compute-type", help="ASR compute type (int8, float16, float32; default from "
                        "config/hardware_cache.json)")
    parser.add_argument("--translator", metavar="KEY", help="translation model for every pair (catalog key, "
                        "e.g. nllb-200-distilled-600m; default: IndicTrans2 for Indic pairs, NLLB-200 otherwise), "
                        "or llm (an LLM translates) or post-edit (the MT model drafts, an LLM revises), or whisper "
                        "(the ASR model's own speech translation, into English only)")
    parser.add_argument("--romanization", choices=romanize.STYLES, help="with a Latin-script target such as "
                        "hi-Latn: readable (the default: no diacritics, as readers write it) or iso (ISO 15919)")
    parser.add_argument("--draft-model", metavar="KEY", help="with --translator post-edit or llm: the MT model "
                        "(catalog key) that drafts, and that stands in for a window the LLM cannot give (default: "
                        "IndicTrans2 for Indic pairs, NLLB-200 otherwise)")
    parser.add_argument("--llm", metavar="PROVIDER:MODEL", help="the LLM for --translator llm|post-edit, e.g. "
                        "anthropic:claude-sonnet-4-5, openai:gpt-4.1-mini, openai:qwen2.5:7b (default in "
                        "config/pipeline.json)")
    parser.add_argument("--llm-url", metavar="URL", help="an OpenAI- or Anthropic-compatible server, e.g. "
                        "http://localhost:11434/v1 (Ollama), http://localhost:8080/v1 (llama.cpp)")
    parser.add_argument("--llm-key-env", metavar="NAME", help="the environment variable holding the key (default: "
                        "ANTHROPIC_API_KEY or OPENAI_API_KEY); the key itself is never written anywhere")
    parser.add_argument("--allow-network", action="store_true", help="let this job send the text to a remote "
                        "LLM service (recorded in job.json); a server on this machine needs no permission")
    parser.add_argument("--translate-backend", choices=("ctranslate2", "transformers"),
                        help="translation backend (default from config/hardware_cache.json)")
    parser.add_argument("--burn-in", action="store_true", help="subtitle workflow: also make a copy of the video "
                        "with the first subtitle track drawn into the picture (libass; Noto fonts: fonts-noto-core)")
    parser.add_argument("--glossary", metavar="FILE", help="names and terms to keep through translation and "
                        "to prompt ASR with (tab-separated; see docs/user-guide/glossary.md)")
    parser.add_argument("--speakers", metavar="auto|N|off", help="who speaks when (the speakers stage): auto "
                        "finds how many voices there are, N asks for exactly N, off skips the stage (default in "
                        "config/pipeline.json: speakers.count)")
    parser.add_argument("--speakers-engine", help="who-speaks-when engine: " + ", ".join(config.engines("speakers"))
                        + " (pyannote: its gated pipeline, once cached with ./cache-models.sh --model "
                        "pyannote-speaker-diarization-community-1 and HF_TOKEN set)")
    parser.add_argument("--speaker-names", metavar="NAMES|FILE", help="names for the speakers in order of first "
                        "appearance: \"Asha,Ravi\", or a file with one name a line (default: Speaker 1, Speaker 2...)")
    parser.add_argument("--karaoke", action="store_true", help="ASS subtitles with each word's karaoke timing "
                        "(\\k tags from the words' own times; the source language's track)")
    parser.add_argument("--job-id", help="choose the job id instead of a generated one")
    return parser


def _workflow(args: argparse.Namespace) -> str:
    """The workflow asked for, checked against --media and --subs."""
    if args.subs:
        if args.workflow not in (None, "subs"):
            raise UserError(f"--subs belongs to the subs workflow: drop --workflow {args.workflow} "
                            "(or give --workflow subs)")
        return "subs"
    if args.workflow == "subs":
        raise UserError("the subs workflow translates a subtitle file: add --subs FILE.srt")
    if not args.media:
        raise UserError("nothing to subtitle: give --media FILE (or --subs FILE.srt to translate subtitles you have)")
    if args.workflow is None:
        raise UserError("choose a workflow: --workflow transcribe, translate or subtitle")
    return args.workflow


LLM_MODES = ("llm", "post-edit")
WHISPER = "whisper"  # --translator whisper: Whisper's translate task

# Options that steer speech recognition, which a subs job does not run.
ASR_ONLY = (("start", "--start"), ("end", "--end"), ("engine", "--engine"), ("vad", "--vad"), ("model", "--model"),
            ("compute_type", "--compute-type"), ("speakers", "--speakers"), ("speaker_names", "--speaker-names"),
            ("karaoke", "--karaoke"), ("speakers_engine", "--speakers-engine"))


def _speakers(args: argparse.Namespace) -> tuple[str, list[str]]:
    """(count: "auto", "off" or a number, names) from --speakers and --speaker-names."""
    settings = config.pipeline_defaults()["speakers"]
    most = int(settings["max_speakers"])
    count = (args.speakers or str(settings["count"])).strip().lower()
    if count not in ("auto", "off") and not (count.isdigit() and 1 <= int(count) <= most):
        raise UserError(f"--speakers {args.speakers}: give auto, off or a number from 1 to {most}")
    names: list[str] = []
    if args.speaker_names is not None:
        given = args.speaker_names
        path = config.user_path(given) if given.strip() else None
        if path is not None and path.is_file():
            try:
                given = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"cannot read --speaker-names file {path}: {exc} (one name a line, UTF-8)")
            names = [line.strip() for line in given.splitlines() if line.strip()]
        else:
            names = [name.strip() for name in given.split(",")]
        if not names or any(not name for name in names):
            raise UserError("--speaker-names needs names separated by commas, e.g. --speaker-names \"Asha,Ravi\" "
                            "(or a file with one name a line)")
        odd = [name for name in names if any(c in name for c in "<>&") or not name.isprintable() or len(name) > 40]
        if odd:
            raise UserError(f"speaker name {odd[0]!r} cannot be shown in subtitles: use names of at most 40 "
                            "printable characters without < > &")
        if len(set(names)) < len(names):
            raise UserError("--speaker-names names someone twice: give each speaker one name")
        if count == "off":
            raise UserError("--speaker-names names the speakers that --speakers finds: drop --speakers off")
        if count.isdigit() and len(names) > int(count):
            raise UserError(f"--speaker-names gives {len(names)} names for --speakers {count}: give at most {count}")
    return count, names


def _validated(args: argparse.Namespace, probe: bool = True) -> dict:
    """The job the request describes, every option checked; with probe false the media file is not
    opened (a batch checks the options it shares once, before its files)."""
    args.workflow = _workflow(args)
    subs_path = None
    if args.subs:
        given = [flag for name, flag in ASR_ONLY if getattr(args, name)]
        if given:
            raise UserError(f"{', '.join(given)} steer speech recognition, which the subs workflow does not run: "
                            "drop them")
        subs_path = config.user_path(args.subs)
    media_path = config.user_path(args.media) if args.media else None
    info = media.probe(media_path) if media_path and probe else {}
    if args.source.strip().lower() == languages.AUTO and args.workflow == "subs":
        raise UserError("-s auto detects a spoken language: name the language of the subtitles (e.g. -s hi)")
    source = languages.normalize(args.source, allow_auto=True)
    if subs_path:
        found = reader.read(subs_path, source, info.get("fps"))
        if found.detected:
            print(f"note: {subs_path.name} is not UTF-8: read as {found.encoding} (detected)")
        if found.report():
            print(f"note: {subs_path.name}: {found.report()}")
    targets = [languages.normalize(t, target=True) for t in args.target.split(",") if t.strip()]
    example = "hi" if source.partition("-")[0] == "en" else "en"
    if args.workflow in ("translate", "subtitle", "subs") and not targets:
        raise UserError(f"the {args.workflow} workflow needs target languages: add -t {example} "
                        f"(or -t {example},ta,...)")
    if args.workflow == "transcribe" and targets:
        raise UserError("the transcribe workflow has no targets: drop -t, or use --workflow translate")
    if source in targets and len(set(targets)) == 1:
        raise UserError(f"-t {source} is the spoken language itself: its subtitles are made by "
                        f"--workflow transcribe; for a translation name another target (e.g. -t {example})")
    targets = list(dict.fromkeys(t for t in targets if t != source))
    start = media.parse_time(args.start) if args.start else 0.0
    end = media.parse_time(args.end) if args.end else None
    if end is not None and end <= start:
        raise UserError(f"--end ({args.end}) must come after --start ({args.start or '0'})")
    if start >= info.get("duration", 0) > 0:
        raise UserError(f"--start {args.start} is past the end of the media ({info['duration']:.1f} s)")
    for stage, label, chosen in (("asr", "engine", args.engine), ("vad", "VAD engine", args.vad),
                                 ("speakers", "speakers engine", args.speakers_engine)):
        if chosen and chosen not in config.engines(stage):
            raise UserError(f"unknown {label} '{chosen}': choose one of {', '.join(config.engines(stage))}")
    if args.model and catalog.find(args.model, "asr") is None and not config.user_path(args.model).is_dir():
        raise UserError(f"unknown model '{args.model}': see ./cache-models.sh --list (e.g. tiny.en, small, large-v3)")
    if args.model and args.model.endswith(".en") and source not in ("en", languages.AUTO):
        raise UserError(f"{args.model} understands English only: choose a multilingual model "
                        f"(e.g. --model small) for {languages.name(source)}")
    if args.glossary:
        glossary.parse(config.user_path(args.glossary))
    if args.job_id:
        job_dirs.check_job_id(args.job_id)
    if args.compute_type and args.compute_type not in COMPUTE_TYPES:
        raise UserError(f"unknown compute type '{args.compute_type}': choose one of {', '.join(COMPUTE_TYPES)}")
    if args.romanization and not any(romanize.target_script(t) == "Latn" for t in targets):
        raise UserError("--romanization belongs to a Latin-script target: add one such as -t hi-Latn")
    mode = args.translator if args.translator in LLM_MODES + (WHISPER,) else (
        "llm" if args.llm and not args.translator else "mt")
    # the machine's ASR settings, with the job's engine
    asr = {**workflows.stage_settings({}, "asr"), **({"engine": args.engine} if args.engine else {})}
    if mode == WHISPER:
        _check_whisper_translator(args, source, targets, asr)
    mt_model = args.translator if mode == "mt" else args.draft_model
    if mt_model and catalog.find(mt_model, "translate") is None:
        raise UserError(f"unknown translation model '{mt_model}': see ./cache-models.sh --list "
                        "(or --translator llm | post-edit)")
    if mode == "mt" and (args.llm or args.llm_url or args.llm_key_env or args.draft_model):
        raise UserError("--llm, --llm-url, --llm-key-env and --draft-model belong to --translator llm or post-edit: "
                        "add one (an MT model for every pair is --translator KEY)")
    if mode in LLM_MODES:
        if args.workflow == "transcribe":
            raise UserError("the transcribe workflow translates nothing: drop --translator/--llm, or use "
                            "--workflow translate")
        settings = config.pipeline_defaults()["translate"]
        point = llm.endpoint(args.llm or settings["llm"], args.llm_url, args.llm_key_env)
        llm.check_network(point, args.allow_network)
        llm.key(point, os.environ)
    for target in targets:
        romanize.check(source, target)
        if source != languages.AUTO and mode != WHISPER and plan.needs_model(source, target):
            _note_licence(plan.route(source, romanize.language_of(target), mt_model))
    if args.workflow != "subs" and not args.model:
        route = asr_routes.choose(None if source == languages.AUTO else source, asr, None)
        if route.hint:
            print(f"note: {route.hint}")
    if args.burn_in and args.workflow not in ("subtitle", "subs"):
        raise UserError("--burn-in belongs to the subtitle workflow (its mux stage): add --workflow subtitle -t ...")
    if args.burn_in and media_path is None:
        raise UserError("--burn-in draws subtitles into a video: add --media FILE")
    if args.burn_in and probe and info["fps"] is None:
        raise UserError(f"{media_path.name} has no picture to burn subtitles into: drop --burn-in")
    speakers, names = _speakers(args) if args.workflow != "subs" else ("off", [])
    overrides = {"vad": {"engine": args.vad} if args.vad else {},
                 "speakers": {k: v for k, v in (("count", args.speakers and speakers), ("names", names),
                                                ("engine", args.speakers_engine)) if v},
                 "mux": {"burn_in": True} if args.burn_in else {},
                 # a subs job's cues keep the times the user's file gives them
                 "subtitles": {**({"keep_cue_times": True} if subs_path else {}),
                               **({"karaoke": True} if args.karaoke else {})},
                 "asr": {k: v for k, v in (("engine", args.engine), ("model", args.model),
                                           ("compute_type", args.compute_type)) if v},
                 "translate": {k: v for k, v in (("model", mt_model), ("backend", args.translate_backend),
                                                 ("romanization", args.romanization),
                                                 ("translator", None if mode == "mt" else mode), ("llm", args.llm),
                                                 ("llm_url", args.llm_url), ("llm_key_env", args.llm_key_env)) if v}}
    return {
        **({"media": str(media_path.resolve()), "media_info": info} if media_path else {}),
        **({"subs": str(subs_path.resolve())} if subs_path else {}),
        "workflow": args.workflow,
        "source_language": source,
        "target_languages": targets,
        "clip": {"start": start, "end": end},
        "overrides": {k: v for k, v in overrides.items() if v},
        "speakers": speakers != "off",
        **({"allow_network": True} if args.allow_network else {}),
    }


def _check_whisper_translator(args: argparse.Namespace, source: str, targets: list[str], asr: dict) -> None:
    """--translator whisper: English from the speech, by the faster-whisper engine's multilingual model."""
    if args.workflow not in ("translate", "subtitle"):
        raise UserError(f"--translator whisper translates speech: the {args.workflow} workflow has "
                        + ("none" if args.workflow == "subs" else "no targets") + "; use --workflow translate -t en")
    others = [t for t in targets if t.partition("-")[0] != "en"]
    if others:
        raise UserError(f"--translator whisper gives English only, not {', '.join(others)}: use -t en, or an MT "
                        "model for the other targets (drop --translator)")
    if args.llm or args.draft_model:
        raise UserError("--llm and --draft-model belong to --translator llm or post-edit, not whisper: drop them")
    if source.partition("-")[0] == "en":
        raise UserError("the speech is English already: --translator whisper translates into English; "
                        "use --workflow transcribe")
    if asr.get("engine") == "mlx":
        raise UserError("--translator whisper runs on the faster-whisper engine, not mlx: add --engine faster-whisper")
    model = args.model or asr.get("model", "")
    found = catalog.find(model, "asr")
    if model.endswith(".en") or (found is not None and (found.languages or "turbo" in found.aliases)):
        raise UserError(f"Whisper {model} cannot translate speech (an English-only model, a one-language "
                        "fine-tune, or turbo, trained without translation): add --model base, small or large-v3")


def _note_licence(model: catalog.Model) -> None:
    if catalog.non_commercial(model):
        print(f"note: {model.key} is licensed {model.licence.upper()}: non-commercial use only "
              "(an IndicTrans2 route, MIT, or --translator llm serves commercial work)")


def create(args: argparse.Namespace) -> tuple[str, Path, dict]:
    """Validate the request and make its job directory and job.json; returns id, path and job."""
    job = _validated(args)
    job_id, path = job_dirs.new_job_dir(Path(job_dirs.stem(job_dirs.source(job))), args.job_id)
    speakers = job.pop("speakers")
    job = {"job_id": job_id, "created": _dt.datetime.now().isoformat(timespec="seconds"), **job}
    job["stages"] = workflows.stages_for(job["workflow"], job.get("media_info"), speakers)
    if args.glossary:
        shutil.copyfile(config.user_path(args.glossary), path / glossary.JOB_FILE)
    schema.write(path / "job.json", job)
    return job_id, path, job


def batch(args: argparse.Namespace) -> int:
    """One job per file of the folders and files given; the job ids, then the batch id alone, on
    standard output; the refused files on standard error. Exit 3 when some were refused."""
    if args.subs or args.job_id:
        raise UserError(f"{'--subs' if args.subs else '--job-id'} takes one file: give one --media FILE, "
                        "or drop it for a batch")
    media_files = batches.expand(args.media, args.glob)
    _validated(argparse.Namespace(**{**vars(args), "media": str(media_files[0])}), probe=False)  # shared options

    def make(path: Path) -> str:
        one = argparse.Namespace(**{**vars(args), "media": str(path)})
        return create(one)[0]

    request = {"workflow": args.workflow, "source": args.source, "targets": args.target,
               "given": [str(config.user_path(m)) for m in args.media], "glob": args.glob}
    batch_id, made, refused = batches.prepare(media_files, make, request)
    for entry in made:
        print(entry["job_id"])
    for entry in refused:
        print(f"refused {entry['media']}: {entry['reason']}", file=sys.stderr)
    print(f"Prepared batch {batch_id}: {len(made)} job(s)" + (f", {len(refused)} file(s) refused" if refused else "")
          + f" in {config.display_path(batches.batches_dir())}; run it with: ./run-pipeline.sh -b {batch_id}",
          file=sys.stderr)
    print(batch_id)
    return batches.SOME_REFUSED_EXIT if refused else 0


def main() -> int:
    args = _parser().parse_args()
    if any(not m.strip() for m in args.media):
        raise UserError("--media needs a file or a folder: --media in/film.mp4")
    if args.glob and not any(config.user_path(m).is_dir() for m in args.media):
        raise UserError("--glob chooses files in a folder: give --media FOLDER")
    if len(args.media) > 1 or any(config.user_path(m).is_dir() for m in args.media):
        return batch(args)
    args.media = args.media[0] if args.media else None
    job_id, path, job = create(args)
    clip = ""
    if args.start or args.end:
        clip = f", clip {args.start or '0'}-{args.end or 'end'}"
    targets = f" -> {','.join(job['target_languages'])}" if job["target_languages"] else ""
    with_media = f" with {Path(job['media']).name}" if job.get("subs") and job.get("media") else ""
    print(f"Prepared {job['workflow']} job for {job_dirs.source(job).name}{with_media} "
          f"({job['source_language']}{targets}{clip}) in {config.display_path(path)}")
    print(f"Run it with: ./run-pipeline.sh -j {job_id}")
    print(job_id)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="prepare-job.sh")
