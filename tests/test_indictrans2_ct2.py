"""IndicTrans2 on CTranslate2: shared/models/ct2_convert.py's conversion, checked token for token.

IndicTrans2's own model code (modeling_indictrans.py, loaded from the hub with trust_remote_code) is not
available offline, so the conversion cannot be compared with it. Instead tests/tiny_models.py builds a
tiny checkpoint in IndicTrans2's hub layout with random weights (every tensor random, layer norms
included) and greedy-decodes it with a reference written in plain torch from our reading of that
architecture (indictrans2_reference_greedy). CTranslate2 float32 output equal to the reference for every
sentence means every tensor went where the architecture uses it; a dropped layer norm, shifted
positions or a missing </s> each change most outputs.

The sources are made the way the real pipeline makes them: IndicProcessor.preprocess_batch (src and
tgt language tags, normalization), then model.SRC SentencePiece pieces, looked up in dict.SRC.json.
torch, ctranslate2, sentencepiece and IndicTransToolkit live in the translate venv: the work runs there
as subprocesses.
"""

import json
import subprocess

import pytest

from conftest import REPO, clean_env
from tiny_models import HINDI_ENGLISH_PAIRS

PYTHON = REPO / ".venvs/translate/bin/python"

BUILD = """
import json, sys
sys.path.insert(0, "tests")
from tiny_models import build_indictrans2
build_indictrans2(sys.argv[1], seed=int(sys.argv[2]), weights=sys.argv[3], direction=sys.argv[4],
                  shape=json.loads(sys.argv[5]), eos_scale=float(sys.argv[6]))
"""

COMPARE = """
import json, sys
sys.path.insert(0, "tests")
import tiny_models as tm
from IndicTransToolkit.processor import IndicProcessor
model_dir, ct2_dir, src_lang, tgt_lang, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
texts = json.loads(sys.argv[6])
lines = IndicProcessor(inference=False).preprocess_batch(texts, src_lang=src_lang, tgt_lang=tgt_lang)
vocab = tm.IndicTrans2Vocab(model_dir)
ids = [vocab.source_ids(line) for line in lines]
batched = tm.indictrans2_reference_greedy(model_dir, ids, max_new_tokens=n)
single = [tm.indictrans2_reference_greedy(model_dir, [i], max_new_tokens=n)[0] for i in ids]
print(json.dumps({
    "lines": lines,
    "source_tokens": [vocab.source_tokens(line) for line in lines],
    "reference": [[vocab.tgt_tokens[i] for i in row] for row in batched],
    "reference_single": [[vocab.tgt_tokens[i] for i in row] for row in single],
    "ctranslate2": tm.translate_indictrans2_ctranslate2(ct2_dir, lines, max_new_tokens=n),
}, ensure_ascii=False))
"""

HINDI = [h for h, _ in HINDI_ENGLISH_PAIRS] + ["आज", "बाज़ार में आज भीड़ है और ट्रेन देर से चल रही है।"]
ENGLISH = [e for _, e in HINDI_ENGLISH_PAIRS] + ["Hello", "The market is crowded today and the train is late."]
MAX_NEW_TOKENS = 16

POST_NORM = {"encoder_normalize_before": False, "decoder_normalize_before": False, "layernorm_embedding": False,
             "activation_function": "relu"}

# case: (direction, weights file, config overrides, seed, </s> scale, src tag, tgt tag, texts)
CASES = {
    # the distilled models' layout (dist-200M, dist-320M): model.safetensors, pre-norm, layernorm_embedding, gelu
    "indic-en-safetensors": ("indic-en", "safetensors", {}, 0, 1.0, "hin_Deva", "eng_Latn", HINDI),
    "en-indic-bin": ("en-indic", "bin", {}, 0, 1.0, "eng_Latn", "hin_Deva", ENGLISH),
    # the 1B models' configs: pre-norm and gelu, but no layernorm_embedding
    "indic-en-1b-layout": ("indic-en", "safetensors", {"layernorm_embedding": False}, 0, 1.0,
                           "hin_Deva", "eng_Latn", HINDI),
    # en-indic-dist-200M ties the output projection to the decoder embedding (no lm_head.weight saved)
    "en-indic-tied-projection": ("en-indic", "safetensors", {"share_decoder_input_output_embed": True}, 1, 1.0,
                                 "eng_Latn", "hin_Deva", ENGLISH),
    # the config's other branches, and unequal layer and head counts
    "indic-en-post-norm": ("indic-en", "safetensors", {**POST_NORM, "encoder_layers": 3, "decoder_layers": 1,
                                                       "decoder_attention_heads": 8}, 0, 1.0,
                           "hin_Deva", "eng_Latn", HINDI),
    # some sentences end early (</s>) and some run to the length limit, in one batch
    "indic-en-early-eos": ("indic-en", "safetensors", {}, 3, 2.0, "hin_Deva", "eng_Latn", HINDI),
}


def run(*args, timeout=300):
    env = clean_env(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    result = subprocess.run([str(PYTHON), *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    return result.stdout


def build_and_convert(tmp_path, direction="indic-en", weights="safetensors", shape=None, seed=0, eos_scale=1.0):
    model_dir, ct2_dir = tmp_path / "model", tmp_path / "ct2"
    run("-c", BUILD, model_dir, seed, weights, direction, json.dumps(shape or {}), eos_scale)
    run("-m", "shared.models.ct2_convert", model_dir, ct2_dir)  # the CLI cache-models.sh uses
    return model_dir, ct2_dir


@pytest.mark.parametrize("case", CASES)
def test_ctranslate2_float32_equals_reference_greedy(tmp_path, case):
    direction, weights, shape, seed, eos_scale, src_lang, tgt_lang, texts = CASES[case]
    model_dir, ct2_dir = build_and_convert(tmp_path, direction, weights, shape, seed, eos_scale)
    out = json.loads(run("-c", COMPARE, model_dir, ct2_dir, src_lang, tgt_lang, MAX_NEW_TOKENS,
                         json.dumps(texts, ensure_ascii=False)).strip().splitlines()[-1])

    # sources as the real tokenizer builds them: the two tags IndicProcessor puts first, then pieces
    assert all(line.startswith(f"{src_lang} {tgt_lang} ") for line in out["lines"])
    assert all(tokens[:2] == [src_lang, tgt_lang] and len(tokens) > 2 for tokens in out["source_tokens"])
    # left padding in a batch changes nothing (the reference pads as the real tokenizer does)
    assert out["reference"] == out["reference_single"]
    assert out["ctranslate2"] == out["reference"]
    # random weights, yet input-dependent output, and no <pad>/<s> whose handling differs by design
    distinct = len({tuple(t) for t in out["ctranslate2"]})
    assert distinct >= (len(texts) - 2 if eos_scale == 1.0 else 4)  # with early </s>, several are empty
    assert not any(t in ("<pad>", "<s>") for row in out["reference"] for t in row)
    lengths = {len(row) for row in out["reference"]}
    if eos_scale != 1.0:  # both ended sentences and sentences cut at the limit are compared
        assert MAX_NEW_TOKENS in lengths and min(lengths) < MAX_NEW_TOKENS


def test_converted_directory_is_self_contained(tmp_path):
    model_dir, ct2_dir = build_and_convert(tmp_path)
    config = json.loads((ct2_dir / "config.json").read_text())
    assert config["add_source_eos"] is True and config["decoder_start_token"] == "</s>"
    assert config["eos_token"] == "</s>" and config["unk_token"] == "<unk>"
    for side in ("SRC", "TGT"):
        mapping = json.loads((model_dir / f"dict.{side}.json").read_text(encoding="utf-8"))
        vocabulary = json.loads((ct2_dir / f"{'source' if side == 'SRC' else 'target'}_vocabulary.json")
                                .read_text(encoding="utf-8"))
        assert vocabulary == sorted(mapping, key=mapping.__getitem__)  # dictionary order = ids
        assert (ct2_dir / f"model.{side}").read_bytes() == (model_dir / f"model.{side}").read_bytes()
    source = json.loads((ct2_dir / "source_vocabulary.json").read_text(encoding="utf-8"))
    assert {"hin_Deva", "eng_Latn", "tam_Taml"} <= set(source)  # language tags are source tokens
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


STAGE = """
import json, sys
sys.path.insert(0, "tests")
import tiny_models as tm
from IndicTransToolkit.processor import IndicProcessor
from stages.translate import IndicTrans2Backend
model_dir, ct2_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = json.loads(sys.argv[4])
settings = {"backend": "ctranslate2", "beam_size": 1, "max_length": n, "batch_size": 4, "threads": 1,
            "compute_type": "float32", "device": "cpu"}
stage = IndicTrans2Backend(tm.Path(model_dir), settings, tm.Path(ct2_dir)).translate(texts, "hi", "en")
processor = IndicProcessor(inference=True)
lines = processor.preprocess_batch(texts, src_lang="hin_Deva", tgt_lang="eng_Latn")
vocab = tm.IndicTrans2Vocab(model_dir)
rows = tm.indictrans2_reference_greedy(model_dir, [vocab.source_ids(line) for line in lines], max_new_tokens=n)
reference = processor.postprocess_batch([vocab.target_text([vocab.tgt_tokens[i] for i in row]) for row in rows],
                                        lang="eng_Latn")
print(json.dumps({"stage": stage, "reference": reference}, ensure_ascii=False))
"""


def test_translate_stage_backend_matches_the_reference_pipeline(tmp_path):
    """The stage's own IndicTrans2 path (IndicProcessor per length-sorted batch, tags + pieces, no
    target prefix, pieces joined, postprocess) gives what the reference decoder gives."""
    model_dir, ct2_dir = tmp_path / "model", tmp_path / "ct2"
    env = clean_env(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    subprocess.run([str(PYTHON), "-c", BUILD, str(model_dir), "3", "safetensors", "indic-en", "{}", "1.0"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run([str(PYTHON), "-m", "shared.models.ct2_convert", str(model_dir), str(ct2_dir)], cwd=REPO, env=env,
                   check=True, capture_output=True)
    result = subprocess.run([str(PYTHON), "-c", STAGE, str(model_dir), str(ct2_dir), str(MAX_NEW_TOKENS),
                             json.dumps(HINDI, ensure_ascii=False)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["stage"] == out["reference"]
    assert len(set(out["stage"])) > 1
