"""Tiny NLLB-200 and IndicTrans2 models, built at test time, so that tests run our real loading and translation code
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
    python tests/tiny_models.py indictrans2 OUT_DIR [--seed N] [--direction indic-en] [--weights bin] [--ct2 CT2_DIR]

Public API:
    HINDI_ENGLISH_PAIRS                        (hindi, english) pairs for overfitting
    LANGUAGE_CODES                             the FLORES-200 codes every built tokenizer knows
    build_nllb(out_dir, *, pairs=None, seed=0, max_steps=1500) -> Path
    convert_ctranslate2(model_dir, out_dir, quantization=None) -> Path   (shared/models/ct2_convert.py)
    translate_transformers(model_dir, texts, *, src_lang, tgt_lang, max_new_tokens=64) -> list[str]
    translate_ctranslate2(ct2_dir, texts, *, src_lang, tgt_lang, max_new_tokens=64,
                          compute_type="float32") -> list[str]
    build_in_venv(python, out_dir, *, overfit=False, seed=0, ct2_dir=None, quantization=None) -> Path
    build_indictrans2(out_dir, *, seed=0, shape=None, direction="indic-en", weights="safetensors") -> Path
    IndicTrans2Vocab(model_dir)                source_tokens / source_ids / target_text, the real tokenizer's rules
    indictrans2_reference_greedy(model_dir, source_ids, *, max_new_tokens=64) -> list[list[int]]
    translate_indictrans2_ctranslate2(ct2_dir, lines, *, max_new_tokens=64, compute_type="float32")
                                               -> target tokens per preprocessed line
    (IndicTrans2: see the section above build_indictrans2 for the layout and what the reference is)

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

import json
import os
import subprocess
import sys
import tempfile
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

# A glossary placeholder ([1], as shared/translation/glossary.py writes it) carried through, as real NLLB copies
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
    """Convert with the project's converter (shared/models/ct2_convert.py), tokenizer files included."""
    from shared.models.ct2_convert import convert

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


# --------------------------------------------------------------------------------------------------
# IndicTrans2
#
# What a built directory is: IndicTrans2's hub layout (ai4bharat/indictrans2-*), at toy size:
#   config.json              IndicTransConfig's fields as the hub repositories have them (model_type
#                            "IndicTrans", encoder/decoder_vocab_size, *_embed_dim, *_normalize_before,
#                            layernorm_embedding, scale_embedding, share_decoder_input_output_embed,
#                            pad 1 / bos 0 / eos 2 / decoder_start 2, auto_map to the remote code files)
#   model.safetensors        (or pytorch_model.bin) with modeling_indictrans.py's tensor names: model.encoder.*,
#                            model.decoder.*, lm_head.weight; sinusoidal positions are not saved (a
#                            non-persistent buffer in the model code)
#   model.SRC, model.TGT     SentencePiece BPE models (nmt_nfkc, user symbols "▁<dnt>" "▁</dnt>", unk 0,
#                            bos 1, eos 2, no pad: the real models' trainer settings), trained here with the
#                            sentencepiece library on a few sentences plus the scripts' alphabets
#   dict.SRC.json, dict.TGT.json   fairseq dictionaries {token: id}: <s> 0, <pad> 1, </s> 2, <unk> 3, then
#                            pieces by corpus frequency; the source dictionary also holds the 26 language
#                            tags (eng_Latn, hin_Deva, ...) among the pieces, and __bt__/__ft__; both end in
#                            madeupwordNNNN fillers, as the real ones do. Ids differ from SentencePiece ids.
#   tokenizer_config.json, special_tokens_map.json, generation_config.json   as the hub repositories ship
# The remote code files themselves (modeling_indictrans.py, tokenization_indictrans.py, ...) are not
# written: they are not available offline, and nothing here runs them.
#
# How the real tokenizer feeds the model (tokenization_indictrans.py): IndicProcessor.preprocess_batch
# gives "src_tag tgt_tag text"; the source ids are [id(src_tag), id(tgt_tag), *ids(spm_src pieces of
# text)] + [</s>] looked up in dict.SRC.json (<unk> when absent), left-padded with <pad>. Generation
# starts from decoder_start_token_id (</s>), with no forced first token; the output pieces are joined
# and "▁" turned into spaces, then IndicProcessor.postprocess_batch.
#
# indictrans2_reference_greedy() is our own reading of the architecture in modeling_indictrans.py
# (AI4Bharat/IndicTrans2, huggingface_interface/), written in plain torch because that code is not
# available offline here: it exists to check, token for token, that shared/models/ct2_convert.py puts every
# tensor where the architecture uses it. It is not the real model code.
# --------------------------------------------------------------------------------------------------

# The language tags of the real source dictionaries (2023 releases), in the en-indic dict.SRC.json's order.
INDICTRANS2_LANGUAGE_TAGS = (
    "eng_Latn", "hin_Deva", "ben_Beng", "mal_Mlym", "kan_Knda", "tel_Telu", "tam_Taml", "guj_Gujr",
    "mar_Deva", "pan_Guru", "urd_Arab", "ory_Orya", "snd_Arab", "npi_Deva", "asm_Beng", "mni_Beng",
    "san_Deva", "kas_Deva", "kas_Arab", "brx_Deva", "gom_Deva", "mai_Deva", "mni_Mtei", "doi_Deva",
    "sat_Olck", "snd_Deva",
)
INDICTRANS2_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq's ids 0-3
INDICTRANS2_SPM_VOCAB = 400

# The hub config.json's fields (ai4bharat/indictrans2-*-1B) at toy size; vocabulary sizes are filled in
# from the dictionaries. Dropouts as the real ones: they do not act at inference.
INDICTRANS2_CONFIG = dict(
    activation_dropout=0.0, activation_function="gelu", architectures=["IndicTransForConditionalGeneration"],
    attention_dropout=0.0,
    auto_map={"AutoConfig": "configuration_indictrans.IndicTransConfig",
              "AutoModelForSeq2SeqLM": "modeling_indictrans.IndicTransForConditionalGeneration"},
    bos_token_id=0, decoder_attention_heads=4, decoder_embed_dim=64, decoder_ffn_dim=128, decoder_layerdrop=0,
    decoder_layers=2, decoder_normalize_before=True, decoder_start_token_id=2, dropout=0.2,
    encoder_attention_heads=4, encoder_embed_dim=64, encoder_ffn_dim=128, encoder_layerdrop=0, encoder_layers=2,
    encoder_normalize_before=True, eos_token_id=2, init_std=0.02, is_encoder_decoder=True, layernorm_embedding=True,
    max_source_positions=256, max_target_positions=256, model_type="IndicTrans", num_hidden_layers=2,
    pad_token_id=1, scale_embedding=True, share_decoder_input_output_embed=False,
    tokenizer_class="IndicTransTokenizer", torch_dtype="float32", transformers_version="4.32.1", use_cache=True,
)
INDICTRANS2_TOKENIZER_CONFIG = {
    "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": True}
                             for i, t in enumerate(INDICTRANS2_SPECIALS)},
    "auto_map": {"AutoTokenizer": ["tokenization_indictrans.IndicTransTokenizer", None]},
    "bos_token": "<s>", "clean_up_tokenization_spaces": True, "do_lower_case": False, "eos_token": "</s>",
    "model_max_length": 256, "pad_token": "<pad>", "tokenizer_class": "IndicTransTokenizer", "unk_token": "<unk>",
}
INDICTRANS2_SPECIAL_TOKENS_MAP = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
INDICTRANS2_GENERATION_CONFIG = {"_from_model_config": True, "bos_token_id": 0, "decoder_start_token_id": 2,
                                 "eos_token_id": 2, "pad_token_id": 1, "transformers_version": "4.32.1"}
INDICTRANS2_RANDOM_STD = 1.0  # as for NLLB: small weights make every input decode alike

_INDIC_RANGES = ((0x0900, 0x097F), (0x0980, 0x09FF), (0x0B80, 0x0BFF))  # Devanagari, Bengali, Tamil
_LATIN_RANGES = ((0x21, 0x7E), (0xC0, 0xFF), (0x2013, 0x2014), (0x2018, 0x201D), (0x2026, 0x2026))


def _chars(ranges) -> str:
    return " ".join(chr(c) for lo, hi in ranges for c in range(lo, hi + 1)
                    if unicodedata.category(chr(c)) != "Cn" and unicodedata.normalize("NFKC", chr(c)) == chr(c))


def _train_spm(sentences: list[str], vocab_size: int) -> bytes:
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    # The real model.SRC/model.TGT trainer settings, read from their TrainerSpec.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, model_type="bpe", vocab_size=vocab_size,
        character_coverage=1.0, user_defined_symbols=["▁<dnt>", "▁</dnt>"], normalization_rule_name="nmt_nfkc",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    return model.getvalue()


def _fairseq_dictionary(spm_model: bytes, sentences: list[str], *, tags=(), tail=()) -> dict[str, int]:
    """{token: id} as fairseq builds it: specials, then tokens by frequency in the encoded corpus (the
    language tags counted as the most frequent, interleaved with the top pieces as in the real ones)."""
    from collections import Counter

    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=spm_model)
    counts = Counter(p for s in sentences for p in sp.encode(s, out_type=str))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
              if not (sp.is_control(i) or sp.is_unknown(i))]
    pieces.sort(key=lambda p: -counts[p])  # stable: unseen pieces keep SentencePiece's order
    ordered: list[str] = []
    queue = list(tags)
    for piece in pieces:
        if queue:
            ordered.append(queue.pop(0))
        ordered.append(piece)
    ordered += queue
    tokens = list(INDICTRANS2_SPECIALS) + ordered + list(tail)
    assert len(set(tokens)) == len(tokens)
    return {t: i for i, t in enumerate(tokens)}


def _indictrans2_state_dict(cfg: dict, generator, std: float) -> dict:
    """Random tensors under modeling_indictrans.py's names. Every tensor is random, layer norms and biases
    included (not 1/0 as in training init), so a conversion that swaps or drops any of them changes the
    output; padding rows of the embeddings are zero, as nn.Embedding(padding_idx=1) leaves them."""
    import torch

    def normal(*shape, scale=1.0):
        return torch.randn(*shape, generator=generator) * (std * scale)

    def linear(name, n_out, n_in, bias=True):
        out = {f"{name}.weight": normal(n_out, n_in, scale=n_in ** -0.5 * 4)}
        if bias:
            out[f"{name}.bias"] = normal(n_out, scale=0.5)
        return out

    def layer_norm(name, dim):
        return {f"{name}.weight": 1 + 0.25 * torch.randn(dim, generator=generator),
                f"{name}.bias": 0.1 * torch.randn(dim, generator=generator)}

    state: dict = {}
    pad = cfg["pad_token_id"]
    for side in ("encoder", "decoder"):
        dim, ffn = cfg[f"{side}_embed_dim"], cfg[f"{side}_ffn_dim"]
        embed = normal(cfg[f"{side}_vocab_size"], dim)
        embed[pad] = 0
        state[f"model.{side}.embed_tokens.weight"] = embed
        for i in range(cfg[f"{side}_layers"]):
            p = f"model.{side}.layers.{i}"
            attentions = ("self_attn", "encoder_attn") if side == "decoder" else ("self_attn",)
            for attn in attentions:
                for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                    state.update(linear(f"{p}.{attn}.{proj}", dim, dim))
                state.update(layer_norm(f"{p}.{attn}_layer_norm", dim))
            state.update(linear(f"{p}.fc1", ffn, dim))
            state.update(linear(f"{p}.fc2", dim, ffn))
            state.update(layer_norm(f"{p}.final_layer_norm", dim))
        if cfg[f"{side}_normalize_before"]:
            state.update(layer_norm(f"model.{side}.layer_norm", dim))
        if cfg["layernorm_embedding"]:
            state.update(layer_norm(f"model.{side}.layernorm_embedding", dim))
    state.update(linear("lm_head", cfg["decoder_vocab_size"], cfg["decoder_embed_dim"], bias=False))
    return {k: v.contiguous() for k, v in state.items()}


def build_indictrans2(out_dir: str | os.PathLike, *, seed: int = 0, shape: dict | None = None,
                      direction: str = "indic-en", weights: str = "safetensors",
                      std: float = INDICTRANS2_RANDOM_STD, eos_scale: float = 1.0) -> Path:
    """Write a tiny IndicTrans2 checkpoint with random weights in the hub layout to out_dir (created; must
    be empty if it exists) and return it.

    direction: "indic-en" (source pieces from Indic text, target English), "en-indic" or "indic-indic".
    weights: "safetensors" (model.safetensors, what the pinned hub revisions ship) or "bin" (pytorch_model.bin).
    shape: overrides of INDICTRANS2_CONFIG (embed dims, layers, heads, ffn dims, normalize_before, ...).
    eos_scale: multiplies lm_head's </s> row; random weights almost never end a sentence, and a scale of
    about 2 makes some sentences end early, for tests of end-of-sentence handling.
    The same seed gives the same files.
    """
    import torch

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    if direction not in ("indic-en", "en-indic", "indic-indic"):
        raise ValueError(f"unknown direction {direction}")
    out.mkdir(parents=True, exist_ok=True)

    hindi = [h for h, _ in OVERFIT_PAIRS] + [t for t in _GENERIC_TEXT if not t.isascii()]
    english = [e for _, e in OVERFIT_PAIRS] + [t for t in _GENERIC_TEXT if t.isascii()]
    indic_text = hindi + [_chars(_INDIC_RANGES), _chars(((0x30, 0x39), (0x21, 0x2F)))]
    latin_text = english + [_chars(_LATIN_RANGES)]
    src_text, tgt_text = {"indic-en": (indic_text, latin_text), "en-indic": (latin_text, indic_text),
                          "indic-indic": (indic_text, indic_text)}[direction]

    src_spm = _train_spm(src_text, INDICTRANS2_SPM_VOCAB)
    tgt_spm = _train_spm(tgt_text, INDICTRANS2_SPM_VOCAB)
    src_dict = _fairseq_dictionary(src_spm, src_text, tags=INDICTRANS2_LANGUAGE_TAGS,
                                   tail=("__bt__", "__ft__", "madeupword0000", "madeupword0001"))
    tgt_dict = _fairseq_dictionary(tgt_spm, tgt_text,
                                   tail=tuple(f"madeupword{i:04d}" for i in range(4)))
    (out / "model.SRC").write_bytes(src_spm)
    (out / "model.TGT").write_bytes(tgt_spm)
    for name, mapping in (("dict.SRC.json", src_dict), ("dict.TGT.json", tgt_dict)):
        (out / name).write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")

    cfg = {**INDICTRANS2_CONFIG, **(shape or {})}
    cfg.update(encoder_vocab_size=len(src_dict), decoder_vocab_size=len(tgt_dict), vocab_size=len(tgt_dict),
               num_hidden_layers=cfg["encoder_layers"])
    generator = torch.Generator().manual_seed(seed)
    state = _indictrans2_state_dict(cfg, generator, std)
    state["lm_head.weight"][cfg["eos_token_id"]] *= eos_scale
    if cfg["share_decoder_input_output_embed"]:
        # a tied checkpoint saves the matrix once, under the decoder's embedding name
        if eos_scale != 1.0:
            raise ValueError("eos_scale needs an untied lm_head")
        del state["lm_head.weight"]
    if weights == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    elif weights == "bin":
        torch.save(state, out / "pytorch_model.bin")
    else:
        raise ValueError(f"unknown weights format {weights}")

    def dump(name, data):
        (out / name).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    dump("config.json", dict(sorted(cfg.items())))
    dump("generation_config.json", INDICTRANS2_GENERATION_CONFIG)
    dump("tokenizer_config.json", INDICTRANS2_TOKENIZER_CONFIG)
    dump("special_tokens_map.json", INDICTRANS2_SPECIAL_TOKENS_MAP)
    return out


class IndicTrans2Vocab:
    """The real tokenizer's text <-> id rules (tokenization_indictrans.py), from a model or converted
    directory's model.SRC/model.TGT and dict.SRC.json/dict.TGT.json."""

    def __init__(self, model_dir: str | os.PathLike):
        import sentencepiece as spm

        d = Path(model_dir)
        self.src_spm = spm.SentencePieceProcessor(model_file=str(d / "model.SRC"))
        self.tgt_spm = spm.SentencePieceProcessor(model_file=str(d / "model.TGT"))
        self.src = json.loads((d / "dict.SRC.json").read_text(encoding="utf-8"))
        self.tgt = json.loads((d / "dict.TGT.json").read_text(encoding="utf-8"))
        self.tgt_tokens = sorted(self.tgt, key=self.tgt.__getitem__)

    def source_tokens(self, line: str) -> list[str]:
        """A preprocessed line ("src_tag tgt_tag text", IndicProcessor.preprocess_batch's output) as the
        tokens the encoder reads before </s>: the two tags, then the source SentencePiece pieces."""
        src_tag, tgt_tag, text = line.split(" ", 2)
        return [src_tag, tgt_tag] + self.src_spm.encode(text, out_type=str)

    def source_ids(self, line: str) -> list[int]:
        """What the real tokenizer gives the model for one line: dict.SRC ids of the tokens, then </s>."""
        unk = self.src["<unk>"]
        return [self.src.get(t, unk) for t in self.source_tokens(line)] + [self.src["</s>"]]

    def target_text(self, tokens: list[str]) -> str:
        """Generated target tokens to text, as the real tokenizer decodes (specials dropped, pieces joined,
        "▁" to spaces); IndicProcessor.postprocess_batch comes after."""
        kept = [t for t in tokens if t not in INDICTRANS2_SPECIALS]
        return "".join(kept).replace("▁", " ").strip()


def indictrans2_reference_greedy(model_dir: str | os.PathLike, source_ids: list[list[int]], *,
                                 max_new_tokens: int = 64, dtype=None) -> list[list[int]]:
    """Greedy decoding of IndicTrans2 from the checkpoint's tensors, in plain torch (see the note above:
    our reading of modeling_indictrans.py, used because the real code is not available offline).

    source_ids: one id list per sentence as the real tokenizer makes them (tags, pieces, </s>); they are
    batched left-padded with <pad>, as the real tokenizer pads. Returns the generated target ids per
    sentence without the start token and without </s>; at most max_new_tokens steps (</s> counts as one).
    """
    import math

    import torch
    import torch.nn.functional as F

    from shared.models.ct2_convert import _read_state_dict, sinusoidal_positions

    dtype = dtype or torch.float32
    d = Path(model_dir)
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    w = {k: v.to(dtype) for k, v in _read_state_dict(d).items()}
    pad, eos, start = cfg["pad_token_id"], cfg["eos_token_id"], cfg["decoder_start_token_id"]
    dim = cfg["encoder_embed_dim"]
    scale = math.sqrt(dim) if cfg["scale_embedding"] else 1.0
    table = sinusoidal_positions(pad + 1 + 4096, dim, pad).to(dtype)

    def linear(x, name):
        return F.linear(x, w[f"{name}.weight"], w.get(f"{name}.bias"))

    def norm(x, name):
        return F.layer_norm(x, (x.shape[-1],), w[f"{name}.weight"], w[f"{name}.bias"], 1e-5)

    def attention(x, memory, name, heads, bias):
        b, t, _ = x.shape
        hd = x.shape[-1] // heads

        def split(y):
            return y.view(b, -1, heads, hd).transpose(1, 2)

        q = split(linear(x, f"{name}.q_proj") * hd ** -0.5)
        k, v = split(linear(memory, f"{name}.k_proj")), split(linear(memory, f"{name}.v_proj"))
        probs = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
        return linear((probs @ v).transpose(1, 2).reshape(b, t, -1), f"{name}.out_proj")

    def block(x, name, pre_norm, fn):
        # fairseq's residual block: pre-norm normalizes the branch input, post-norm the sum.
        y = fn(norm(x, name) if pre_norm else x)
        return x + y if pre_norm else norm(x + y, name)

    act = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu}[cfg["activation_function"]]

    def stack(side, ids, positions, self_bias, memory=None, memory_bias=None):
        pre = cfg[f"{side}_normalize_before"]
        heads = cfg[f"{side}_attention_heads"]
        x = w[f"model.{side}.embed_tokens.weight"][ids] * scale + table[positions]
        if cfg["layernorm_embedding"]:
            x = norm(x, f"model.{side}.layernorm_embedding")
        for i in range(cfg[f"{side}_layers"]):
            p = f"model.{side}.layers.{i}"
            x = block(x, f"{p}.self_attn_layer_norm", pre,
                      lambda h: attention(h, h, f"{p}.self_attn", heads, self_bias))
            if memory is not None:
                x = block(x, f"{p}.encoder_attn_layer_norm", pre,
                          lambda h: attention(h, memory, f"{p}.encoder_attn", heads, memory_bias))
            x = block(x, f"{p}.final_layer_norm", pre, lambda h: linear(act(linear(h, f"{p}.fc1")), f"{p}.fc2"))
        return norm(x, f"model.{side}.layer_norm") if pre else x

    neg = torch.finfo(dtype).min
    width = max(len(s) for s in source_ids)
    src = torch.tensor([[pad] * (width - len(s)) + list(s) for s in source_ids])
    real = src.ne(pad)
    # fairseq's make_positions: real tokens count from padding_idx + 1, padding sits on the zero row.
    src_pos = torch.where(real, torch.cumsum(real, dim=1) + pad, torch.full_like(src, pad))
    key_bias = torch.where(real, 0.0, neg).to(dtype)[:, None, None, :]
    with torch.inference_mode():
        memory = stack("encoder", src, src_pos, key_bias)
        out = torch.full((len(source_ids), 1), start)
        done = torch.zeros(len(source_ids), dtype=torch.bool)
        for _ in range(max_new_tokens):
            t = out.shape[1]
            # Incremental decoding in the model code gives step t the position padding_idx + 1 + t
            # (a generated <pad> would sit on the zero row instead).
            pos = torch.where(out.ne(pad), torch.arange(t) + pad + 1, torch.full_like(out, pad))
            causal = torch.triu(torch.full((t, t), neg, dtype=dtype), diagonal=1)
            h = stack("decoder", out, pos, causal, memory, key_bias)
            projection = w["lm_head.weight"] if "lm_head.weight" in w else w["model.decoder.embed_tokens.weight"]
            nxt = F.linear(h[:, -1], projection).argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt.eq(eos)
            if done.all():
                break
    results = []
    for row in out[:, 1:].tolist():
        row = row[:row.index(eos)] if eos in row else row
        results.append(row)
    return results


def translate_indictrans2_ctranslate2(ct2_dir: str | os.PathLike, lines: list[str], *, max_new_tokens: int = 64,
                                      compute_type: str = "float32", beam_size: int = 1) -> list[list[str]]:
    """CTranslate2 greedy decoding set up to match indictrans2_reference_greedy: lines are preprocessed
    ("src_tag tgt_tag text"), the source is [tags, pieces] (the converted model appends </s> itself:
    add_source_eos), no target prefix (decoding starts from </s>), beam 1, no minimum length.
    Returns the target tokens per line."""
    import ctranslate2

    vocab = IndicTrans2Vocab(ct2_dir)
    translator = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type=compute_type,
                                        inter_threads=1, intra_threads=1)
    results = translator.translate_batch([vocab.source_tokens(line) for line in lines], beam_size=beam_size,
                                         max_decoding_length=max_new_tokens, min_decoding_length=0)
    return [r.hypotheses[0] for r in results]


# --------------------------------------------------------------------------------------------------
# wav2vec2 CTC (WhisperX's alignment models, e.g. facebook/wav2vec2-base-960h for English)
#
# The hub layout: config.json (Wav2Vec2Config), preprocessor_config.json (Wav2Vec2FeatureExtractor,
# 16 kHz), vocab.json (character vocabulary: <pad> 0, <s>, </s>, <unk>, "|" as the word separator, then
# upper-case letters and the apostrophe), tokenizer_config.json and special_tokens_map.json
# (Wav2Vec2CTCTokenizer), and the weights. Here at toy size with random weights: the alignment it gives
# is arbitrary, but every tensor and file is where WhisperX's loader looks.
# --------------------------------------------------------------------------------------------------

WAV2VEC2_LETTERS = "ETAONIHSRDLUMWCFGYPBVK'XJQZ"


def build_wav2vec2_ctc(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a tiny wav2vec2 CTC model and its processor to out_dir (created; must be empty if it exists)."""
    import torch
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(["<pad>", "<s>", "</s>", "<unk>", "|", *WAV2VEC2_LETTERS])}
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.json"
        vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
        tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>",
                                         word_delimiter_token="|", do_lower_case=False)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        pad_token_id=vocab["<pad>"], ctc_loss_reduction="sum", do_stable_layer_norm=False,
        feat_extract_norm="group", hidden_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0)
    Wav2Vec2ForCTC(config).eval().save_pretrained(out, safe_serialization=False)  # pytorch_model.bin
    return out


def build_whisper(out_dir: str | os.PathLike, tokenizer_json: str | os.PathLike, *, seed: int = 0) -> Path:
    """A tiny random Whisper in transformers format, laid out as the per-language fine-tunes on the hub
    are (vasista22's): config.json, generation_config.json, pytorch_model.bin, preprocessor_config.json
    and the slow tokenizer's vocab.json and merges.txt, no tokenizer.json. Its vocabulary is real
    Whisper's (the multilingual tokenizer.json given), so its language and task tokens are too."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperTokenizerFast)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(tokenizer_json))
    tokenizer.save_pretrained(out)
    (out / "tokenizer.json").unlink()  # as the fine-tunes ship it: the slow tokenizer's files only
    WhisperFeatureExtractor(feature_size=80).save_pretrained(out)
    vocab = tokenizer.convert_tokens_to_ids
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, pad_token_id=vocab("<|endoftext|>"),
        bos_token_id=vocab("<|endoftext|>"), eos_token_id=vocab("<|endoftext|>"),
        decoder_start_token_id=vocab("<|startoftranscript|>"), suppress_tokens=[], begin_suppress_tokens=[220, 50257])
    model = WhisperForConditionalGeneration(config).eval()
    languages = [t for t in tokenizer.get_added_vocab() if t.startswith("<|") and len(t) <= 9 and t[2:-2].isalpha()
                 and t[2:-2].islower() and t not in ("<|translate|>", "<|transcribe|>")]
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id, eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id, suppress_tokens=[], begin_suppress_tokens=[220, 50257],
        lang_to_id={t: vocab(t) for t in languages}, task_to_id={"transcribe": vocab("<|transcribe|>"),
                                                                 "translate": vocab("<|translate|>")},
        no_timestamps_token_id=vocab("<|notimestamps|>"), is_multilingual=True, max_length=448)
    model.save_pretrained(out, safe_serialization=False)  # pytorch_model.bin, as the 2022 fine-tunes ship
    return out


# pyannote's speaker-diarization-community-1 config (pyannote.audio 4), as the hub's revision 3533c8c
# names its parts (the test writes it; the hub's own file is not reproduced byte for byte)
PYANNOTE_COMMUNITY_CONFIG = """dependencies:
  pyannote.audio: 4.0.0

pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    segmentation_batch_size: 32
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda

params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""


def build_pyannote_community(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """pyannote/speaker-diarization-community-1's layout with random weights of its real architectures
    (run in the whisperx venv: pyannote.audio 4): a powerset PyanNet segmentation, a WeSpeaker ResNet34
    embedding, each as the Lightning checkpoint pyannote saves, and a PLDA of the real shapes (256-d
    embeddings, 128-d LDA)."""
    import numpy as np
    import pyannote.audio
    import pytorch_lightning
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    out = Path(out_dir)
    for part in ("segmentation", "embedding", "plda"):
        (out / part).mkdir(parents=True, exist_ok=True)

    def save(model, specifications, path: Path) -> None:
        torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                    "pytorch-lightning_version": pytorch_lightning.__version__,
                    "pyannote.audio": {"versions": {"pyannote.audio": pyannote.audio.__version__},
                                       "architecture": {"module": type(model).__module__,
                                                        "class": type(model).__name__},
                                       "specifications": specifications}}, path)

    segmentation = PyanNet(sincnet={"stride": 10})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0, min_duration=10.0,
        warm_up=(0.0, 0.0), classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
        permutation_invariant=True)
    segmentation.build()
    save(segmentation, segmentation.specifications, out / "segmentation" / "pytorch_model.bin")
    save(WeSpeakerResNet34(), Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                             duration=1.0), out / "embedding" / "pytorch_model.bin")
    rng = np.random.RandomState(seed)
    rotation, _ = np.linalg.qr(rng.randn(128, 128))
    np.savez(out / "plda" / "xvec_transform.npz", mean1=rng.randn(256), mean2=rng.randn(128).astype(np.float32),
             lda=rng.randn(256, 128).astype(np.float32))
    np.savez(out / "plda" / "plda.npz", mu=rng.randn(128), tr=rotation, psi=np.abs(rng.randn(128)) + 0.5)
    (out / "config.yaml").write_text(PYANNOTE_COMMUNITY_CONFIG, encoding="utf-8")
    return out


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tests/tiny_models.py",
                                     description="Build a tiny NLLB-200-style, IndicTrans2-style or wav2vec2 CTC model.")
    sub = parser.add_subparsers(dest="kind", required=True)
    nllb = sub.add_parser("nllb")
    nllb.add_argument("out_dir")
    nllb.add_argument("--overfit", action="store_true", help="train on OVERFIT_PAIRS")
    nllb.add_argument("--seed", type=int, default=0)
    nllb.add_argument("--ct2", metavar="CT2_DIR", help="also convert to CTranslate2 there")
    nllb.add_argument("--quantization", help="CTranslate2 weight type, e.g. int8")
    it2 = sub.add_parser("indictrans2")
    it2.add_argument("out_dir")
    it2.add_argument("--seed", type=int, default=0)
    it2.add_argument("--direction", default="indic-en", choices=("indic-en", "en-indic", "indic-indic"))
    it2.add_argument("--weights", default="safetensors", choices=("safetensors", "bin"))
    it2.add_argument("--ct2", metavar="CT2_DIR", help="also convert to CTranslate2 there")
    it2.add_argument("--quantization", help="CTranslate2 weight type, e.g. int8")
    whisper = sub.add_parser("whisper")
    whisper.add_argument("out_dir")
    whisper.add_argument("--tokenizer", required=True, help="a multilingual Whisper tokenizer.json")
    whisper.add_argument("--seed", type=int, default=0)
    w2v = sub.add_parser("wav2vec2")
    w2v.add_argument("out_dir")
    w2v.add_argument("--seed", type=int, default=0)
    diarization = sub.add_parser("pyannote-community")
    diarization.add_argument("out_dir")
    diarization.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.kind == "pyannote-community":
        build_pyannote_community(args.out_dir, seed=args.seed)
        return 0
    if args.kind == "whisper":
        build_whisper(args.out_dir, args.tokenizer, seed=args.seed)
        return 0
    if args.kind == "wav2vec2":
        build_wav2vec2_ctc(args.out_dir, seed=args.seed)
        return 0
    if args.kind == "indictrans2":
        model_dir = build_indictrans2(args.out_dir, seed=args.seed, direction=args.direction, weights=args.weights)
    else:
        model_dir = build_nllb(args.out_dir, pairs=OVERFIT_PAIRS if args.overfit else None, seed=args.seed)
    if args.ct2:
        convert_ctranslate2(model_dir, args.ct2, args.quantization)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(_main())
