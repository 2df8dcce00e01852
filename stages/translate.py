"""Translate: the transcript's sentences into each target language, on CTranslate2 or transformers.

Runs in the translate venv. Sentences (shared.translation) are sorted by length and translated in
batches, never one generate call per segment: on CPU, batch 32 runs about ten times the tokens per
second of batch 1. CTranslate2 serves the model converted once at cache time (int8 on CPU, float16
on CUDA, by compute type at load); transformers serves the downloaded checkpoint. Glossary terms
are swapped for placeholders before and restored after (shared.glossary). Writes
translation.<lang>.json per target, in the transcript schema.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

from shared.core import config, languages, schema
from shared.core.errors import UserError, run_cli
from shared.jobs import workflows
from shared.models import catalog
from shared.speakers import assign
from shared.translation import glossary, llm, plan, romanize
from stages._common import stage_args


def by_length(texts: list[str], lengths: list[int], batch_size: int):
    """Index batches of similar lengths (less padding), longest first."""
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


class NllbBackend:
    """NLLB-200 (M2M100 architecture) with its NllbTokenizerFast; src_lang is set on the tokenizer,
    the target forced as the first generated token."""

    def __init__(self, model_dir: Path, settings: dict, converted: Path | None):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.settings = settings
        self.beam_size = int(settings["beam_size"])
        # both backends count the forced language token: max_new_tokens == max_decoding_length
        self.max_length = int(settings["max_length"])
        self.backend = settings["backend"]
        threads = int(settings.get("threads") or 1)
        if self.backend == "ctranslate2":
            import ctranslate2

            if converted is None:
                raise UserError("this model has no CTranslate2 conversion in the cache: run "
                                "./cache-models.sh --model <its key> again (it converts after download)")
            self.translator = ctranslate2.Translator(str(converted), device=settings["device"],
                                                     compute_type=settings["compute_type"],
                                                     intra_threads=threads, inter_threads=1)
        else:
            import torch
            from transformers import AutoModelForSeq2SeqLM

            torch.set_num_threads(threads)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
            self.device = settings["device"]
            self.model.to(self.device)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        self.tokenizer.src_lang = languages.flores(source)
        tgt = languages.flores(target)
        ids = [self.tokenizer(t).input_ids for t in texts]
        out: list[str] = [""] * len(texts)
        batch_size, done = int(self.settings["batch_size"]), 0
        for batch in by_length(texts, [len(i) for i in ids], batch_size):
            if self.backend == "ctranslate2":
                tokens = [self.tokenizer.convert_ids_to_tokens(ids[i]) for i in batch]
                results = self.translator.translate_batch(
                    tokens, target_prefix=[[tgt]] * len(batch), beam_size=self.beam_size,
                    max_decoding_length=self.max_length, min_decoding_length=0, max_batch_size=batch_size)
                for i, result in zip(batch, results):
                    hyp = [t for t in result.hypotheses[0] if t != tgt]
                    out[i] = self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(hyp),
                                                   skip_special_tokens=True)
            else:
                import torch

                enc = self.tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True).to(self.device)
                with torch.inference_mode():
                    generated = self.model.generate(
                        **enc, forced_bos_token_id=self.tokenizer.convert_tokens_to_ids(tgt),
                        num_beams=self.beam_size, do_sample=False, max_new_tokens=self.max_length)
                for i, text in zip(batch, self.tokenizer.batch_decode(generated, skip_special_tokens=True)):
                    out[i] = text
            done += len(batch)  # translated, even where to nothing
            print(f"progress: {done}/{len(texts)} sentences", file=sys.stderr, flush=True)
        return out


INDICTRANS2_SPECIALS = {"<s>", "<pad>", "</s>", "<unk>"}


def indic_processor_class():
    """IndicTransToolkit's IndicProcessor, its module loaded by itself: the package's __init__ also
    imports the toolkit's evaluator and data collator, and with them transformers and torch, which the
    processor does not use (4 s of the stage's start on 2 cores, against 0.8 s for the processor)."""
    import importlib.machinery
    import importlib.util

    name = "IndicTransToolkit.processor"
    if name not in sys.modules:
        package = importlib.util.find_spec("IndicTransToolkit")  # located, not run
        found = package and importlib.machinery.PathFinder.find_spec("processor", package.submodule_search_locations)
        if not found or not found.origin:  # not installed, or laid out otherwise: the plain import says so
            from IndicTransToolkit.processor import IndicProcessor

            return IndicProcessor
        spec = importlib.util.spec_from_file_location(name, found.origin)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].IndicProcessor


class IndicTrans2Backend:
    """IndicTrans2 through IndicTransToolkit's IndicProcessor (normalisation, script unification and
    placeholder handling on the way in, detokenisation on the way out).

    CTranslate2: the encoder reads the two language tags and the model.SRC SentencePiece pieces (the
    converted model appends </s>); decoding starts from </s> with no target prefix, and the pieces are
    joined back. transformers: the repo's own model and tokenizer code, loaded from the cached snapshot
    of the pinned revision (trust_remote_code); this path needs the real repo and cannot run offline
    here, where the tests use CTranslate2. postprocess_batch must see the batches preprocess_batch saw,
    in the same order, so each batch goes through both before the next starts."""

    def __init__(self, model_dir: Path, settings: dict, converted: Path | None):
        self.processor = indic_processor_class()(inference=True)
        self.settings = settings
        self.backend = settings["backend"]
        self.beam_size = int(settings["beam_size"])
        self.max_length = int(settings["max_length"])
        threads = int(settings.get("threads") or 1)
        if self.backend == "ctranslate2":
            import ctranslate2
            import sentencepiece as spm

            if converted is None:
                raise UserError("this model has no CTranslate2 conversion in the cache: run "
                                "./cache-models.sh --model <its key> again (it converts after download)")
            self.spm = spm.SentencePieceProcessor(model_file=str(converted / "model.SRC"))
            self.source_vocab = set(json.loads((converted / "dict.SRC.json").read_text(encoding="utf-8")))
            self.translator = ctranslate2.Translator(str(converted), device=settings["device"],
                                                     compute_type=settings["compute_type"],
                                                     intra_threads=threads, inter_threads=1)
        else:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            torch.set_num_threads(threads)
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=True)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir), trust_remote_code=True).eval()
            self.device = settings["device"]
            self.model.to(self.device)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        src_tag, tgt_tag = languages.flores(source), languages.flores(target)
        if self.backend == "ctranslate2":
            missing = [t for t in (src_tag, tgt_tag) if t not in self.source_vocab]
            if missing:
                raise UserError(f"this IndicTrans2 model does not know {', '.join(missing)}: check the pair's "
                                "direction (indic-en, en-indic, indic-indic) or use an NLLB model")
        out: list[str] = [""] * len(texts)
        batch_size, done = int(self.settings["batch_size"]), 0
        for batch in by_length(texts, [len(t) for t in texts], batch_size):
            pre = self.processor.preprocess_batch([texts[i] for i in batch], src_lang=src_tag, tgt_lang=tgt_tag)
            if self.backend == "ctranslate2":
                tokens = []
                for line in pre:
                    line_src, line_tgt, text = line.split(" ", 2)
                    tokens.append([line_src, line_tgt] + self.spm.encode(text, out_type=str))
                results = self.translator.translate_batch(tokens, beam_size=self.beam_size,
                                                          max_decoding_length=self.max_length,
                                                          min_decoding_length=0, max_batch_size=batch_size)
                raw = ["".join(t for t in r.hypotheses[0] if t not in INDICTRANS2_SPECIALS).replace("▁", " ").strip()
                       for r in results]
            else:
                import torch

                enc = self.tokenizer(pre, truncation=True, padding="longest", return_tensors="pt").to(self.device)
                with torch.inference_mode():
                    generated = self.model.generate(**enc, num_beams=self.beam_size, max_length=self.max_length)
                # Tokenizers of the 2024 revisions decode with the source dictionary unless switched to
                # target mode; later ones switch by themselves, and the switch is harmless to them.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # as_target_tokenizer's deprecation notice
                    with self.tokenizer.as_target_tokenizer():
                        raw = self.tokenizer.batch_decode(generated.tolist(), skip_special_tokens=True,
                                                          clean_up_tokenization_spaces=True)
            for i, text in zip(batch, self.processor.postprocess_batch(raw, lang=tgt_tag)):
                out[i] = text
            done += len(batch)  # translated, even where to nothing
            print(f"progress: {done}/{len(texts)} sentences", file=sys.stderr, flush=True)
        return out


def load_backend(model: catalog.Model, settings: dict):
    if config.downloads_allowed() and catalog.snapshot(model) is None:
        from shared.models import cache

        cache.fetch(model)  # the run allowed downloads (--allow-download): fetch and convert now
    path = catalog.require(model.key, "translate")
    converted = catalog.converted(model) if settings["backend"] == "ctranslate2" else None
    backend = IndicTrans2Backend if model.group == "indictrans2" else NllbBackend
    return backend(path, settings, converted)


def bad_break(language: str):
    """Whether a cue may not end between two words of the language (a weak end, a torn postposition)."""
    from shared.subtitles.rules import TextRules

    text = TextRules.of(language)
    return lambda before, after: text.weak_end(before) or text.clings(after)


def spoken_language(job: dict, transcript: dict) -> str:
    """The job's source language; with -s auto, the one the asr stage detected."""
    source = job["source_language"]
    if source != languages.AUTO:
        return source
    detected = transcript.get("language") or ""
    if detected.partition("-")[0] not in languages.LANGUAGES:
        raise UserError(f"the speech was detected as '{detected or 'nothing'}', which no translation model here "
                        "serves: prepare the job again naming the spoken language (-s hi, -s ta ...)")
    print(f"note: translating from {languages.name(detected)} ({detected}), as detected", file=sys.stderr, flush=True)
    return detected


def transliterated(transcript: dict, segments: list[dict], target: str, style: str) -> dict:
    """The transcript (its segments as spoken: with their speakers) in the target's script, segment by
    segment and word by word: the same cues on the same times (no model)."""
    texts = romanize.transliterate([s["text"] for s in segments], target, style)
    words = [w for s in segments for w in s.get("words") or []]
    spelled = iter(romanize.transliterate([w["word"].strip() for w in words], target, style))
    out = []
    for seg, text in zip(segments, texts):
        out.append({**seg, "text": text, "language": target,
                    "words": [{**w, "word": (" " if w["word"].startswith(" ") else "") + next(spelled)}
                              for w in seg.get("words") or []]})
    return {"language": target, "language_probability": None, "duration": transcript["duration"],
            "engine": "aksharamukha", "model": f"transliteration ({style})", "segments": out}


def whisper_translation(transcript: dict, turns: list[dict], target: str) -> dict:
    """The English the asr stage heard with Whisper's translate task (--translator whisper), with the
    speakers' turns (the speakers stage) on its words, split where the speaker changes."""
    heard = transcript.get("speech_translation")
    if heard is None:
        raise UserError("this job's transcript has no Whisper translation (it was made before --translator "
                        "whisper was set): run the job again from the asr stage")
    return {"language": target, "language_probability": None, "duration": transcript["duration"],
            "engine": "whisper-translate", "model": heard["model"],
            "segments": [{**seg, "language": target} for seg in assign.by_turns(heard["segments"], turns)]}


def main() -> int:
    job_path, job, settings = stage_args("translate")
    transcript = schema.read(job_path / "transcript.json")
    source = spoken_language(job, transcript)
    style = settings.get("romanization") or "readable"
    heard = workflows.speakers(job_path)
    spoken = heard["segments"] if heard else transcript["segments"]  # with their speakers, where heard
    sentences = plan.sentences(spoken, source)
    texts = [s.text for s in sentences]
    terms = glossary.load(job_path)
    backends: dict[str, object] = {}
    files = {}
    keep_cue_times = workflows.stage_settings(job, "subtitles")["keep_cue_times"]
    mode = settings["translator"]
    point = secret = None
    if mode in ("llm", "post-edit"):
        point = llm.endpoint(settings["llm"], settings["llm_url"], settings["llm_key_env"])
        llm.check_network(point, bool(job.get("allow_network")))
        secret = llm.key(point, os.environ)
    usage, fallbacks, windows, reused = llm.Usage(), {}, 0, 0
    for target in job["target_languages"]:
        if mode == "whisper" or not plan.needs_model(source, target):
            done = whisper_translation(transcript, heard["turns"] if heard else [], target) if mode == "whisper" else \
                transliterated(transcript, spoken, target, style)
            schema.write(job_path / f"translation.{target}.json", done)
            files[target] = f"translation.{target}.json"
            continue
        language = romanize.language_of(target)  # hi-Latn from English: into Hindi, then romanized
        model = plan.route(source, language, settings.get("model"))

        def machine(indices: list[int], model=model, target=language) -> list[str]:
            """The MT model's translations of texts[indices], glossary terms kept by placeholders."""
            if model.key not in backends:
                backends[model.key] = load_backend(model, settings)
            protected = [terms.protect(texts[i], target) for i in indices]
            done = backends[model.key].translate([p[0] for p in protected], source, target) if indices else []
            return [terms.restore(text, p[1]) for text, p in zip(done, protected)]

        if mode == "mt":
            translated, name, engine = machine(list(range(len(texts)))), model.key, settings["backend"]
        else:
            drafts = machine(list(range(len(texts)))) if mode == "post-edit" else None
            work = llm.Job(mode, point, source, language, texts, [terms.found(t, language) for t in texts],
                           draft=machine, drafts=drafts, speakers=[s.speaker for s in sentences])
            store = llm.Store(job_path / f"llm.{target}.jsonl")
            translated, fell = llm.translate(
                work, store, lambda: llm.Client(point, secret, settings), settings,
                progress=lambda done, total, target=target: print(
                    f"progress: {target} {done}/{total} sentences", file=sys.stderr, flush=True))
            usage.add(store.usage)
            for fallback in fell:  # when, for review.html's flags on the translated cues
                fallback.update(start=round(sentences[fallback["first"] - 1].start, 3),
                                end=round(sentences[fallback["last"] - 1].end, 3))
            fallbacks[target], windows, reused = fell, windows + work.windows, reused + work.reused
            for fallback in fell:
                print(f"warning: {target} sentences {fallback['first']}-{fallback['last']}: {fallback['reason']}",
                      file=sys.stderr, flush=True)
            name, engine = point.spec, mode
        if romanize.target_script(target):
            translated = romanize.transliterate(translated, target, style)
        schema.write(job_path / f"translation.{target}.json", plan.translated_transcript(
            sentences, translated, target, name, engine,
            transcript["duration"], keep_pieces=keep_cue_times, bad_break=bad_break(target)))
        files[target] = f"translation.{target}.json"
    record = {"source": source, "sentences": len(texts), "files": files}
    if point is not None:
        cost, as_of = llm.cost(point, usage)
        record["llm"] = {"translator": mode, "model": point.spec, "url": point.url, "local": point.local,
                         "requests": usage.requests, "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out,
                         "cost_usd": cost, "prices_as_of": as_of, "windows": windows, "reused_windows": reused,
                         "fallbacks": fallbacks}
    schema.write(job_path / "translations.json", record)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run_cli(main, prog="translate")
