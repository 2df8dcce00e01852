"""Convert a Transformers seq2seq model directory (NLLB-200) to CTranslate2, atomically.

Runs in the translate venv: `python -m shared.ct2_convert SRC_DIR OUT_DIR [--quantization int8] [--force]`.

Why a wrapper and not `ct2-transformers-converter`: ctranslate2 4.8.5's TransformersConverter loads the
model with `from_pretrained(..., dtype=...)`, the keyword transformers adopted in 4.56. The translate
venv stays on transformers 4.53.x for IndicTrans2's model code, where the keyword is `torch_dtype` and
`dtype` makes the load fail. The subclass below renames the keyword in the converter's own
`load_model` hook, the one place the converter calls `from_pretrained` for the model, so nothing
else of the conversion is changed.

The tokenizer files are copied next to the converted weights so that the directory is self-contained:
the translator tokenizes with `AutoTokenizer.from_pretrained(OUT_DIR)` (it reads tokenizer_config.json
and never the CTranslate2 config.json). An interrupted conversion must never leave something that looks
like a model: we convert into a hidden temporary directory next to OUT_DIR (same filesystem) and
rename it into place only when complete; --force swaps an old OUT_DIR out the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from shared.errors import UserError, run_cli

# Files a Transformers tokenizer (NLLB's, slow or fast) is loaded from. config.json is left out on
# purpose: the converter writes its own config.json.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)

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

    copy_files = [name for name in TOKENIZER_FILES if (src / name).is_file()]
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.converting-", dir=out.parent))
    try:
        # The converter refuses an existing output directory unless force=True; ours is empty.
        _converter_class()(str(src), copy_files=copy_files).convert(
            str(staging), quantization=quantization, force=True)
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


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
    parser = argparse.ArgumentParser(prog="python -m shared.ct2_convert", description=__doc__.splitlines()[0])
    parser.add_argument("src_dir", help="Transformers model directory (config.json, weights, tokenizer)")
    parser.add_argument("out_dir", help="CTranslate2 model directory to create")
    parser.add_argument("--quantization", default=None, choices=QUANTIZATIONS,
                        help="weight type (default: the model's own, float32 for NLLB)")
    parser.add_argument("--force", action="store_true", help="replace out_dir if it exists")
    args = parser.parse_args(argv)
    out = convert(args.src_dir, args.out_dir, args.quantization, force=args.force)
    print(out)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="ct2_convert")
