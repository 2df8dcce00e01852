"""Convert a Transformers seq2seq model directory (NLLB-200, IndicTrans2 or Whisper) to CTranslate2, atomically.

Runs in the translate venv: `python -m shared.models.ct2_convert SRC_DIR OUT_DIR [--quantization int8] [--force]`.

Why a wrapper and not `ct2-transformers-converter`: ctranslate2 4.8.5's TransformersConverter loads the
model with `from_pretrained(..., dtype=...)`, the keyword transformers adopted in 4.56. The translate
venv stays on transformers 4.53.x for IndicTrans2's model code, where the keyword is `torch_dtype` and
`dtype` makes the load fail. The subclass below renames the keyword in the converter's own
`load_model` hook, the one place the converter calls `from_pretrained` for the model, so nothing
else of the conversion is changed.

IndicTrans2 (config.json "model_type": "IndicTrans") is converted by _IndicTrans2Converter below,
without transformers: its model class lives only in the hub repository's modeling_indictrans.py
(trust_remote_code), which CTranslate2's converters do not know. The weights are read straight from
model.safetensors / pytorch_model.bin and placed into CTranslate2's Transformer spec.

Whisper fine-tunes (config.json "model_type": "whisper", e.g. the per-language Indic ones) go through
the same converter, and what faster-whisper reads beside model.bin is copied too: tokenizer.json
(made from vocab.json and merges.txt by the model's own tokenizer where the repo ships only those)
and preprocessor_config.json (the mel bins: 128 for large-v3 fine-tunes).

The tokenizer files are copied next to the converted weights so that the directory is self-contained:
the translator tokenizes with `AutoTokenizer.from_pretrained(OUT_DIR)` (it reads tokenizer_config.json
and never the CTranslate2 config.json). An interrupted conversion must never leave something that looks
like a model: we convert into a hidden temporary directory next to OUT_DIR (same filesystem) and
rename it into place only when complete; --force swaps an old OUT_DIR out the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from shared.core.errors import UserError, run_cli

# Files a Transformers tokenizer (NLLB's, slow or fast) is loaded from. config.json is left out on
# purpose: the converter writes its own config.json.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)

# What an IndicTrans2 directory's tokenizer is made of (the hub repositories' layout): SentencePiece
# models for each side and the fairseq dictionaries that map pieces and language tags to ids.
INDICTRANS2_TOKENIZER_FILES = (
    "dict.SRC.json",
    "dict.TGT.json",
    "model.SRC",
    "model.TGT",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
)
INDICTRANS2_MODEL_TYPE = "indictrans"  # config.json says "IndicTrans"; compared case-insensitively
WHISPER_MODEL_TYPE = "whisper"
# What faster-whisper reads beside a CTranslate2 Whisper model.bin
WHISPER_FILES = ("tokenizer.json", "preprocessor_config.json")

# CTranslate2's weight types (ctranslate2 4.8.5 accepts these in convert()).
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16",
                 "float32")

# The transformers release that renamed from_pretrained's torch_dtype to dtype.
_DTYPE_KEYWORD_SINCE = (4, 56)


def _transformers_version() -> tuple[int, int]:
    import transformers

    major, minor = transformers.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _converter_class():
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            if "dtype" in kwargs and _transformers_version() < _DTYPE_KEYWORD_SINCE:
                kwargs["torch_dtype"] = kwargs.pop("dtype")
            return super().load_model(model_class, model_name_or_path, **kwargs)

    return Converter


def convert(src_dir: str | os.PathLike, out_dir: str | os.PathLike, quantization: str | None = None,
            *, force: bool = False) -> Path:
    """Convert the model in src_dir into out_dir (which must not exist unless force) and return out_dir.

    quantization is CTranslate2's weight type (int8, int8_float32, float16, ...); None keeps the
    model's own (float32 for NLLB checkpoints).
    """
    src = Path(src_dir)
    out = Path(out_dir)
    if not (src / "config.json").is_file():
        raise UserError(f"{src} is not a Transformers model directory (no config.json)")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)

    indictrans2 = is_indictrans2(src)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.converting-", dir=out.parent))
    try:
        # The converters refuse an existing output directory unless force=True; ours is empty.
        if indictrans2:
            _IndicTrans2Converter(src).convert(str(staging), quantization=quantization, force=True)
            for name in INDICTRANS2_TOKENIZER_FILES:
                if (src / name).is_file():
                    shutil.copy2(src / name, staging / name)
        elif model_type(src) == WHISPER_MODEL_TYPE:
            copy_files = [name for name in WHISPER_FILES if (src / name).is_file()]
            _converter_class()(str(src), copy_files=copy_files).convert(
                str(staging), quantization=quantization, force=True)
            if not (staging / "tokenizer.json").is_file():
                _fast_tokenizer(src, staging)
        else:
            copy_files = [name for name in TOKENIZER_FILES if (src / name).is_file()]
            _converter_class()(str(src), copy_files=copy_files).convert(
                str(staging), quantization=quantization, force=True)
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def model_type(model_dir: str | os.PathLike) -> str:
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    return str(config.get("model_type", "")).lower()


def is_indictrans2(model_dir: str | os.PathLike) -> bool:
    """True when model_dir's config.json is IndicTrans2's (model_type "IndicTrans")."""
    return model_type(model_dir) == INDICTRANS2_MODEL_TYPE


def _fast_tokenizer(src: Path, out: Path) -> None:
    """tokenizer.json for faster-whisper, from a Whisper repo that ships only the slow tokenizer's
    vocab.json and merges.txt: the model's own tokenizer, loaded and saved in the fast format."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        AutoTokenizer.from_pretrained(str(src), use_fast=True).save_pretrained(tmp)
        if not (Path(tmp) / "tokenizer.json").is_file():
            raise UserError(f"{src} has no tokenizer faster-whisper can read (no tokenizer.json, and none "
                            "could be made from vocab.json and merges.txt)")
        shutil.copy2(Path(tmp) / "tokenizer.json", out / "tokenizer.json")


def _read_vocabulary(path: Path) -> list[str]:
    """A fairseq dictionary saved as JSON ({token: id}) as a token list in id order."""
    mapping = json.loads(path.read_text(encoding="utf-8"))
    tokens = sorted(mapping, key=mapping.__getitem__)
    if [mapping[t] for t in tokens] != list(range(len(tokens))):
        raise UserError(f"{path}: ids are not 0..{len(tokens) - 1} without gaps")
    return tokens


def _read_state_dict(src: Path) -> dict:
    """The checkpoint's tensors by name, from model.safetensors or pytorch_model.bin (sharded or not)."""
    import torch

    def load(path: Path) -> dict:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(str(path), map_location="cpu", weights_only=True)

    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        if (src / single).is_file():
            return load(src / single)
        if (src / index).is_file():
            weight_map = json.loads((src / index).read_text(encoding="utf-8"))["weight_map"]
            state: dict = {}
            for shard in sorted(set(weight_map.values())):
                state.update(load(src / shard))
            return state
    raise UserError(f"{src} has no model.safetensors or pytorch_model.bin")


def sinusoidal_positions(num_positions: int, dim: int, padding_idx: int) -> "torch.Tensor":
    """fairseq's sinusoidal table as IndicTrans2 (and M2M100) build it: row p holds position p, the
    first half sines and the second half cosines, frequencies exp(-i * ln(10000) / (dim/2 - 1)); the
    padding row is zero. Real tokens start at row padding_idx + 1."""
    import math

    import torch

    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000) / (half - 1)))
    angles = torch.arange(num_positions, dtype=torch.float).unsqueeze(1) * freq.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    table[padding_idx] = 0
    return table


# Rows of sinusoidal positions written to the converted model. IndicTrans2's model code grows its table
# on demand (max_source_positions is 256, but longer inputs still get positions), so we write more
# rows than the config names; the rows are the same ones the model code computes.
MIN_POSITION_ROWS = 1024


class _IndicTrans2Converter:
    """IndicTrans2 checkpoint (config.json + state dict + dict.*.json) -> CTranslate2 TransformerSpec.

    The architecture, as modeling_indictrans.py defines it: fairseq-style pre-norm Transformer
    (encoder/decoder_normalize_before), embeddings scaled by sqrt(embed_dim), sinusoidal positions
    starting at padding_idx + 1, layernorm_embedding after embeddings + positions in both stacks, a
    final layer_norm per stack, separate source and target embeddings and vocabularies, and an
    unbiased lm_head. Tensor names (prefix "model." as saved by save_pretrained):
      encoder.embed_tokens.weight, encoder.layernorm_embedding.{weight,bias}, encoder.layer_norm.*,
      encoder.layers.N.self_attn.{q,k,v,out}_proj.{weight,bias}, .self_attn_layer_norm.*,
      .fc1.*, .fc2.*, .final_layer_norm.*; decoder.* likewise plus .encoder_attn.{q,k,v,out}_proj.*
      and .encoder_attn_layer_norm.*; lm_head.weight (no model. prefix).
    Sources are fed as [src_tag, tgt_tag, *pieces] and CTranslate2 appends </s> (add_source_eos),
    as AI4Bharat's own CTranslate2 models expect; decoding starts from </s>
    (decoder_start_token_id 2) with no target prefix.
    """

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)

    def convert(self, output_dir: str, quantization: str | None = None, force: bool = False) -> str:
        from ctranslate2.converters import Converter

        loader = self

        class _Converter(Converter):
            def _load(self):
                return loader.build_spec()

        return _Converter().convert(output_dir, quantization=quantization, force=force)

    def build_spec(self):
        import math

        from ctranslate2.specs import common_spec, transformer_spec

        cfg = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        activations = {"gelu": common_spec.Activation.GELU, "gelu_python": common_spec.Activation.GELU,
                       "gelu_new": common_spec.Activation.GELUTanh, "gelu_fast": common_spec.Activation.GELUTanh,
                       "relu": common_spec.Activation.RELU, "silu": common_spec.Activation.SWISH,
                       "swish": common_spec.Activation.SWISH}
        activation_name = cfg.get("activation_function", "relu")
        if activation_name not in activations:
            raise UserError(f"IndicTrans2 activation '{activation_name}' has no CTranslate2 equivalent")
        activation = activations[activation_name]
        layernorm_embedding = bool(cfg.get("layernorm_embedding", False))

        state = {(k[len("model."):] if k.startswith("model.") else k): v
                 for k, v in _read_state_dict(self.model_dir).items()}
        self.state = state
        self._used: set[str] = set()

        encoder = transformer_spec.TransformerEncoderSpec(
            int(cfg["encoder_layers"]), int(cfg["encoder_attention_heads"]),
            pre_norm=bool(cfg.get("encoder_normalize_before", False)), activation=activation,
            layernorm_embedding=layernorm_embedding)
        decoder = transformer_spec.TransformerDecoderSpec(
            int(cfg["decoder_layers"]), int(cfg["decoder_attention_heads"]),
            pre_norm=bool(cfg.get("decoder_normalize_before", False)), activation=activation,
            layernorm_embedding=layernorm_embedding)
        spec = transformer_spec.TransformerSpec(encoder, decoder)

        pad = int(cfg.get("pad_token_id", 1))
        # The model code sizes both stacks by encoder_embed_dim (modeling_indictrans.py does too).
        dim = int(cfg.get("encoder_embed_dim", cfg.get("d_model", 512)))
        scale = math.sqrt(dim) if cfg.get("scale_embedding", True) else 1.0
        rows = max(int(cfg.get("max_source_positions", 256)), int(cfg.get("max_target_positions", 256)),
                   MIN_POSITION_ROWS)
        positions = sinusoidal_positions(rows + pad + 1, dim, pad)[pad + 1:]

        for name, stack in (("encoder", encoder), ("decoder", decoder)):
            embeddings = stack.embeddings[0] if isinstance(stack.embeddings, list) else stack.embeddings
            embeddings.weight = self._take(f"{name}.embed_tokens.weight")
            stack.scale_embeddings = scale
            stack.position_encodings.encodings = positions.to(embeddings.weight.dtype)
            if layernorm_embedding:
                self._layer_norm(stack.layernorm_embedding, f"{name}.layernorm_embedding")
            if cfg.get(f"{name}_normalize_before", False):
                self._layer_norm(stack.layer_norm, f"{name}.layer_norm")
            for i, layer in enumerate(stack.layer):
                prefix = f"{name}.layers.{i}"
                self._attention(layer.self_attention, f"{prefix}.self_attn", fused_qkv=True)
                self._layer_norm(layer.self_attention.layer_norm, f"{prefix}.self_attn_layer_norm")
                if name == "decoder":
                    self._attention(layer.attention, f"{prefix}.encoder_attn", fused_qkv=False)
                    self._layer_norm(layer.attention.layer_norm, f"{prefix}.encoder_attn_layer_norm")
                self._linear(layer.ffn.linear_0, f"{prefix}.fc1")
                self._linear(layer.ffn.linear_1, f"{prefix}.fc2")
                self._layer_norm(layer.ffn.layer_norm, f"{prefix}.final_layer_norm")

        if "lm_head.weight" in state:
            decoder.projection.weight = self._take("lm_head.weight")
        elif cfg.get("share_decoder_input_output_embed"):
            decoder.projection.weight = decoder.embeddings.weight
        else:
            raise UserError(f"{self.model_dir}: the checkpoint has no lm_head.weight")

        source = _read_vocabulary(self.model_dir / "dict.SRC.json")
        target = _read_vocabulary(self.model_dir / "dict.TGT.json")
        for side, tokens, weight in (("source", source, encoder.embeddings[0].weight),
                                     ("target", target, decoder.embeddings.weight)):
            if len(tokens) != weight.shape[0]:
                raise UserError(f"{self.model_dir}: the {side} dictionary has {len(tokens)} entries but the "
                                f"embeddings have {weight.shape[0]} rows")
        if decoder.projection.weight.shape[0] != len(target):
            raise UserError(f"{self.model_dir}: lm_head has {decoder.projection.weight.shape[0]} rows, "
                            f"dict.TGT.json {len(target)} entries")
        spec.register_source_vocabulary(source)
        spec.register_target_vocabulary(target)

        generation = {}
        if (self.model_dir / "generation_config.json").is_file():
            generation = json.loads((self.model_dir / "generation_config.json").read_text(encoding="utf-8"))
        start = int(generation.get("decoder_start_token_id", cfg.get("decoder_start_token_id", 2)))
        spec.config.bos_token = target[int(cfg.get("bos_token_id", 0))]
        spec.config.eos_token = target[int(cfg.get("eos_token_id", 2))]
        spec.config.unk_token = "<unk>"
        spec.config.decoder_start_token = target[start]
        spec.config.add_source_eos = True
        spec.config.layer_norm_epsilon = 1e-5  # torch.nn.LayerNorm's default, which the model code uses

        # Buffers older saves may carry: positions are recomputed above, the rest are bookkeeping.
        ignored = {k for k in state if "embed_positions" in k or k.endswith((".version", "_float_tensor"))}
        unused = sorted(set(state) - self._used - ignored)
        if unused:
            raise UserError(f"{self.model_dir}: tensors the IndicTrans2 converter does not know: "
                            f"{', '.join(unused[:8])}{' ...' if len(unused) > 8 else ''}")
        return spec

    def _take(self, name: str):
        if name not in self.state:
            raise UserError(f"{self.model_dir}: the checkpoint has no tensor {name}")
        self._used.add(name)
        return self.state[name]

    def _linear(self, spec, prefix: str) -> None:
        spec.weight = self._take(f"{prefix}.weight")
        if f"{prefix}.bias" in self.state:
            spec.bias = self._take(f"{prefix}.bias")

    def _layer_norm(self, spec, prefix: str) -> None:
        spec.gamma = self._take(f"{prefix}.weight")
        spec.beta = self._take(f"{prefix}.bias")

    def _attention(self, spec, prefix: str, *, fused_qkv: bool) -> None:
        import torch

        def part(name):
            return self._take(f"{prefix}.{name}.weight"), self._take(f"{prefix}.{name}.bias")

        (qw, qb), (kw, kb), (vw, vb) = part("q_proj"), part("k_proj"), part("v_proj")
        if fused_qkv:  # self-attention: one [q; k; v] projection
            spec.linear[0].weight = torch.cat([qw, kw, vw])
            spec.linear[0].bias = torch.cat([qb, kb, vb])
        else:  # cross-attention: q from the decoder, [k; v] from the encoder output
            spec.linear[0].weight, spec.linear[0].bias = qw, qb
            spec.linear[1].weight = torch.cat([kw, vw])
            spec.linear[1].bias = torch.cat([kb, vb])
        self._linear(spec.linear[-1], f"{prefix}.out_proj")


def _move_into_place(staging: Path, out: Path) -> None:
    # rename() cannot replace a non-empty directory: move the old one aside first, so that out is
    # at every moment either the old complete model or the new one.
    if not out.exists():
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.replace(out, old / "model")
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old / "model", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.models.ct2_convert", description=__doc__.splitlines()[0])
    parser.add_argument("src_dir", help="Transformers model directory (config.json, weights, tokenizer); "
                        "NLLB-200 (M2M100), IndicTrans2 (model_type IndicTrans) or Whisper")
    parser.add_argument("out_dir", help="CTranslate2 model directory to create")
    parser.add_argument("--quantization", default=None, choices=QUANTIZATIONS,
                        help="weight type (default: the model's own, float32 for NLLB and IndicTrans2)")
    parser.add_argument("--force", action="store_true", help="replace out_dir if it exists")
    args = parser.parse_args(argv)
    out = convert(args.src_dir, args.out_dir, args.quantization, force=args.force)
    print(out)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="ct2_convert")
