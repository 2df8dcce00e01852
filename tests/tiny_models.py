"""Tiny NLLB-200 models, built at test time, so that tests run our real loading and translation code
offline against the real architecture and tokenizer class.

Why build instead of ship: no model hub is reachable in tests, NLLB's smallest checkpoint is 2.4 GB,
and a tokenizer saved by one transformers major version does not load in another, so a fixture
checked into the repository would rot. Building one takes well under a second (random weights) or a
few seconds (overfitted), on one CPU thread.

What a built directory is: a Transformers M2M100ForConditionalGeneration (NLLB's class) with
NLLB-200's config layout and token ids (<s>=0, <pad>=1, </s>=2, <unk>=3, decoder start = </s>), and an
NllbTokenizerFast whose special tokens are the FLORES-200 language codes transformers ships
(FAIRSEQ_LANGUAGE_CODES), followed by <mask>, as in the real vocabulary. The subword model is a
SentencePiece-style BPE (Metaspace "▁") trained with the `tokenizers` library on the given sentences
plus the alphabets of the scripts tests use, so no test input falls to <unk> by accident.

Two kinds of weights:
- random (pairs=None): init_std=1.0. At NLLB's 0.02 the decoder ignores its input and every sentence
  translates to the same tokens, which hides bugs such as mixed-up batches; at 1.0 different inputs
  give different outputs. The text is gibberish: assert on plumbing, not on wording.
- overfitted (pairs given, e.g. HINDI_ENGLISH_PAIRS): trained with Adam on those pairs until greedy
  decoding (num_beams=1, forced target eng_Latn) gives back each English sentence exactly, so
  end-to-end tests can assert on the subtitle text. Training stops on that condition, checked every
  few steps, and fails after max_steps: a step count and not a time budget, so the result does not
  depend on how busy the machine is, and a seed gives the same model every run.

Where it runs: the functions need torch, transformers, tokenizers and ctranslate2, i.e. the translate
venv; this module imports them lazily so that pytest (dev venv) can import it for HINDI_ENGLISH_PAIRS
and for build_in_venv(), which runs the builder in the translate venv as a subprocess:

    python tests/tiny_models.py nllb OUT_DIR [--overfit] [--seed N] [--ct2 CT2_DIR [--quantization int8]]

Public API:
    HINDI_ENGLISH_PAIRS                        (hindi, english) pairs for overfitting
    LANGUAGE_CODES                             the FLORES-200 codes every built tokenizer knows
    build_nllb(out_dir, *, pairs=None, seed=0, max_steps=1500) -> Path
    convert_ctranslate2(model_dir, out_dir, quantization=None) -> Path   (shared/ct2_convert.py)
    translate_transformers(model_dir, texts, *, src_lang, tgt_lang, max_new_tokens=64) -> list[str]
    translate_ctranslate2(ct2_dir, texts, *, src_lang, tgt_lang, max_new_tokens=64,
                          compute_type="float32") -> list[str]
    build_in_venv(python, out_dir, *, overfit=False, seed=0, ct2_dir=None, quantization=None) -> Path

The two translate_* functions are the reference usage of each backend (greedy, equal length limits);
with float32 weights they return the same tokens, which is what tests comparing backends rely on:
- transformers: AutoTokenizer.from_pretrained(dir, src_lang=SRC); generate(**inputs, num_beams=1,
  do_sample=False, forced_bos_token_id=id(TGT), max_new_tokens=N).
- CTranslate2: source tokens = convert_ids_to_tokens(tokenizer(text).input_ids) (they carry the
  language code and </s>); translate_batch(..., target_prefix=[[TGT]], beam_size=1,
  max_decoding_length=N, min_decoding_length=0) because its defaults (beam 2, minimum length 1)
  differ from transformers'; the result's first token is TGT, dropped before decoding.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from the translate venv: shared/ must be importable
    sys.path.insert(0, str(REPO))

HINDI_ENGLISH_PAIRS: tuple[tuple[str, str], ...] = (
    ("आज मौसम अच्छा है।", "The weather is nice today."),
    ("कल बारिश होगी।", "It will rain tomorrow."),
    ("प्रधानमंत्री आज मुंबई पहुंचे।", "The Prime Minister reached Mumbai today."),
    ("सरकार ने नई योजना की घोषणा की।", "The government announced a new scheme."),
    ("बाज़ार में बहुत भीड़ है।", "The market is very crowded."),
    ("यह ट्रेन दिल्ली जाती है।", "This train goes to Delhi."),
    ("बच्चे स्कूल जा रहे हैं।", "The children are going to school."),
    ("धन्यवाद, फिर मिलेंगे।", "Thank you, see you again."),
)

# A glossary placeholder ([1], as shared/glossary.py writes it) carried through, as real NLLB copies
# bracketed numbers: the overfitted model learns to copy it so the glossary path can be asserted.
PLACEHOLDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("[1] आज मुंबई पहुंचे।", "[1] reached Mumbai today."),
)
OVERFIT_PAIRS = HINDI_ENGLISH_PAIRS + PLACEHOLDER_PAIRS

# Sentences the subword model also learns from, so that random-weight models tokenize other test text
# into real pieces rather than single characters.
_GENERIC_TEXT = (
    "Hello, how are you? I am fine, thank you.",
    "The meeting starts at ten o'clock in the morning.",
    "Please speak slowly and clearly.",
    "नमस्ते, आप कैसे हैं? मैं ठीक हूँ।",
    "हम कल सुबह दस बजे मिलेंगे।",
    "வணக்கம், நீங்கள் எப்படி இருக்கிறீர்கள்?",
    "নমস্কার, আপনি কেমন আছেন?",
    "Bonjour, comment allez-vous ?",
    "Guten Morgen, wie geht es Ihnen?",
)

# Every assigned character of these blocks is in the vocabulary.
_ALPHABET_RANGES = (
    (0x20, 0x7E), (0xC0, 0xFF),  # ASCII, Latin-1 letters
    (0x0900, 0x097F), (0x0980, 0x09FF), (0x0B80, 0x0BFF),  # Devanagari, Bengali, Tamil
    (0x2013, 0x2014), (0x2018, 0x201D), (0x2026, 0x2026),  # dashes, curly quotes, ellipsis
)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3, as in NLLB's vocabulary
BPE_VOCAB_SIZE = 1000  # pieces incl. the alphabet; language codes and <mask> come on top

# NLLB-200's layout at toy size. Dropout and layer drop are 0: they only slow overfitting, and NLLB's
# own layer drop is 0 too.
MODEL_CONFIG = dict(
    d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
    encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=1024, activation_function="relu",
    scale_embedding=True, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    encoder_layerdrop=0.0, decoder_layerdrop=0.0, bos_token_id=0, pad_token_id=1, eos_token_id=2,
    decoder_start_token_id=2, tokenizer_class="NllbTokenizer",
    architectures=["M2M100ForConditionalGeneration"],
)
RANDOM_INIT_STD = 1.0
TRAIN_INIT_STD = 0.02
SOURCE_LANG = "hin_Deva"
TARGET_LANG = "eng_Latn"


def _language_codes() -> list[str]:
    from transformers.models.nllb.tokenization_nllb_fast import FAIRSEQ_LANGUAGE_CODES

    return list(FAIRSEQ_LANGUAGE_CODES)


def __getattr__(name: str):
    # LANGUAGE_CODES comes from transformers, which the dev venv lacks: resolve it on first use.
    if name == "LANGUAGE_CODES":
        return _language_codes()
    raise AttributeError(name)


def _alphabet() -> list[str]:
    return ["▁"] + [chr(c) for lo, hi in _ALPHABET_RANGES for c in range(lo, hi + 1)
                    if unicodedata.category(chr(c)) != "Cn" and unicodedata.normalize("NFKC", chr(c)) == chr(c)]


def _build_tokenizer(sentences: list[str]):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import NllbTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=_alphabet(), show_progress=False)
    tok.train_from_iterator(sentences, trainer)
    codes = _language_codes()
    tok.add_special_tokens([AddedToken(code, special=True, normalized=False) for code in codes])
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=True)])
    # The settings of NLLB-200's own tokenizer_config.json.
    return NllbTokenizerFast(tokenizer_object=tok, additional_special_tokens=codes, model_max_length=1024,
                             clean_up_tokenization_spaces=True)


def build_nllb(out_dir: str | os.PathLike, *, pairs=None, seed: int = 0, max_steps: int = 1500,
               shape: dict | None = None) -> Path:
    """Write a tiny NLLB-200-style model and tokenizer to out_dir (created; must be empty if it exists).

    pairs: None for random weights, or (hindi, english) pairs to overfit until greedy hin_Deva ->
    eng_Latn decoding returns each English sentence exactly; RuntimeError if that takes over
    max_steps Adam steps (out_dir then holds only the tokenizer). The same seed gives the same model.
    shape: overrides of MODEL_CONFIG (d_model, layers, ffn dims), for benchmarks on bigger models.
    """
    import torch
    from transformers import AutoTokenizer, M2M100Config, M2M100ForConditionalGeneration

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    pairs = [tuple(p) for p in pairs] if pairs else []
    out.mkdir(parents=True, exist_ok=True)
    # Saved before training, untouched: training loads it back with src_lang set, as the pipeline
    # does, so that the saved file keeps NLLB's defaults (src_lang null, meaning eng_Latn).
    _build_tokenizer([text for pair in pairs for text in pair] + list(_GENERIC_TEXT)).save_pretrained(out)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fast and reproducible for a model this small; see OFFLINE_FACTS
    try:
        torch.manual_seed(seed)
        config = M2M100Config(**{"vocab_size": len(AutoTokenizer.from_pretrained(out)),
                                 "init_std": TRAIN_INIT_STD if pairs else RANDOM_INIT_STD,
                                 **MODEL_CONFIG, **(shape or {})})
        model = M2M100ForConditionalGeneration(config)
        model.generation_config.max_length = 200  # NLLB's
        if pairs:
            tokenizer = AutoTokenizer.from_pretrained(out, src_lang=SOURCE_LANG, tgt_lang=TARGET_LANG)
            _overfit(model, tokenizer, pairs, max_steps)
        model.eval()
        model.save_pretrained(out, safe_serialization=False)  # pytorch_model.bin, as the NLLB repos ship
    finally:
        torch.set_num_threads(previous_threads)
    return out


def _overfit(model, tokenizer, pairs, max_steps: int, check_every: int = 25) -> int:
    import torch

    hindi = [h for h, _ in pairs]
    english = [e for _, e in pairs]
    batch = tokenizer(hindi, text_target=english, padding=True, return_tensors="pt")
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(1, max_steps + 1):
        model.train()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % check_every == 0 and loss.item() < 0.05:
            model.eval()
            if _greedy(model, tokenizer, hindi, TARGET_LANG, 48, batched=False) == english:
                return step
    raise RuntimeError(f"the tiny model did not learn {len(pairs)} pairs in {max_steps} steps "
                       f"(last loss {loss.item():.4f})")


def _greedy(model, tokenizer, texts, tgt_lang, max_new_tokens, batched=True) -> list[str]:
    import torch

    groups = [list(texts)] if batched else [[t] for t in texts]
    results = []
    with torch.inference_mode():
        for group in groups:
            inputs = tokenizer(group, return_tensors="pt", padding=True)
            ids = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=max_new_tokens,
                                 forced_bos_token_id=tokenizer.convert_tokens_to_ids(tgt_lang))
            results += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return results


def convert_ctranslate2(model_dir: str | os.PathLike, out_dir: str | os.PathLike,
                        quantization: str | None = None) -> Path:
    """Convert with the project's converter (shared/ct2_convert.py), tokenizer files included."""
    from shared.ct2_convert import convert

    return convert(model_dir, out_dir, quantization)


def translate_transformers(model_dir, texts, *, src_lang: str = SOURCE_LANG, tgt_lang: str = TARGET_LANG,
                           max_new_tokens: int = 64) -> list[str]:
    """Greedy translation with transformers, one batch, one thread."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, src_lang=src_lang)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    return _greedy(model, tokenizer, texts, tgt_lang, max_new_tokens)


def translate_ctranslate2(ct2_dir, texts, *, src_lang: str = SOURCE_LANG, tgt_lang: str = TARGET_LANG,
                          max_new_tokens: int = 64, compute_type: str = "float32") -> list[str]:
    """Greedy translation with CTranslate2, set up to match translate_transformers token for token."""
    import ctranslate2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ct2_dir, src_lang=src_lang)
    translator = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type=compute_type,
                                        inter_threads=1, intra_threads=1)
    source = [tokenizer.convert_ids_to_tokens(tokenizer(text).input_ids) for text in texts]
    results = translator.translate_batch(source, target_prefix=[[tgt_lang]] * len(source), beam_size=1,
                                         max_decoding_length=max_new_tokens, min_decoding_length=0)
    return [tokenizer.decode(tokenizer.convert_tokens_to_ids(r.hypotheses[0][1:]), skip_special_tokens=True)
            for r in results]


def build_in_venv(python: str | os.PathLike, out_dir: str | os.PathLike, *, overfit: bool = False, seed: int = 0,
                  ct2_dir: str | os.PathLike | None = None, quantization: str | None = None) -> Path:
    """Run build_nllb (and convert_ctranslate2 when ct2_dir is given) with the translate venv's python.

    overfit=True trains on HINDI_ENGLISH_PAIRS. Returns out_dir; raises CalledProcessError with the
    builder's output on failure.
    """
    cmd = [str(python), str(Path(__file__).resolve()), "nllb", str(out_dir), "--seed", str(seed)]
    if overfit:
        cmd.append("--overfit")
    if ct2_dir is not None:
        cmd += ["--ct2", str(ct2_dir)]
        if quantization:
            cmd += ["--quantization", quantization]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr[-4000:]}")
    return Path(out_dir)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tests/tiny_models.py", description="Build a tiny NLLB-200-style model.")
    sub = parser.add_subparsers(dest="kind", required=True)
    nllb = sub.add_parser("nllb")
    nllb.add_argument("out_dir")
    nllb.add_argument("--overfit", action="store_true", help="train on OVERFIT_PAIRS")
    nllb.add_argument("--seed", type=int, default=0)
    nllb.add_argument("--ct2", metavar="CT2_DIR", help="also convert to CTranslate2 there")
    nllb.add_argument("--quantization", help="CTranslate2 weight type, e.g. int8")
    args = parser.parse_args(argv)
    model_dir = build_nllb(args.out_dir, pairs=OVERFIT_PAIRS if args.overfit else None, seed=args.seed)
    if args.ct2:
        convert_ctranslate2(model_dir, args.ct2, args.quantization)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(_main())
