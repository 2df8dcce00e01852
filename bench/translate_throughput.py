#!/usr/bin/env python3
"""Translation throughput: CTranslate2 int8 over transformers on the same model, and batch 32 over
batch 1, measured side by side in one run. Goals: >= 4x and >= 10x.

Usage: .venvs/translate/bin/python bench/translate_throughput.py [--shape small|base|600m] [--beams 1,4]
The model is an NLLB-200-shaped M2M100 with random weights built on the spot (no hub here);
"600m" is NLLB-200-distilled-600M's shape (1024 wide, 12+12 layers), "base" 512 wide with 6+6 layers,
"small" 256 wide with 3+3, all with NLLB's 256,206-token output
vocabulary by default. Random weights never emit the end token, so every sentence decodes to the same
fixed length and tokens/s compares like with like. Measured 2026-11-25, 1 thread, beam 1 / beam 4:
  CTranslate2 int8 / transformers   batch 1      batch 32     CTranslate2 batch 32 / batch 1
  base                              2.7x / 3.9x  4.0x / 4.1x  12.3x / 3.4x
  600m                              2.3x / 4.4x  4.1x / 4.1x   9.6x / 3.5x
Greedy batch 1 is memory-bound on the 256k-row output projection (int8 reads a quarter of float32's
bytes, yet oneDNN's int8 GEMV is slower per byte than torch's float32 one here); beam 4 already
decodes four rows at batch 1, so batching gains less there.
One thread (this machine has two cores and is shared); check the load before trusting a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

SHAPES = {
    "small": dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_ffn_dim=1024, decoder_ffn_dim=1024,
                  encoder_attention_heads=4, decoder_attention_heads=4),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
                 encoder_attention_heads=8, decoder_attention_heads=8),
    # the shape of facebook/nllb-200-distilled-600M
    "600m": dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                 encoder_attention_heads=16, decoder_attention_heads=16),
}
TOKENS = 32  # decoded per sentence


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="base")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--beams", default="1,4",
                        help="beam sizes to measure, comma-separated (default 1,4: greedy and the pipeline's default)")
    parser.add_argument("--vocab", type=int, default=256206,
                        help="output vocabulary size (default NLLB's 256206: its projection dominates decoding); "
                             "0 keeps the tiny tokenizer's")
    args = parser.parse_args()

    beams = [int(b) for b in args.beams.split(",")]
    import torch

    torch.set_num_threads(1)
    from shared.models.ct2_convert import convert
    from stages.translate import NllbBackend
    from tiny_models import HINDI_ENGLISH_PAIRS, build_nllb

    texts = [hi for hi, _ in HINDI_ENGLISH_PAIRS] * (args.sentences // len(HINDI_ENGLISH_PAIRS) + 1)
    texts = texts[:args.sentences]
    print(f"load average {os.getloadavg()[0]:.2f}; model shape {args.shape}; {len(texts)} sentences x {TOKENS} tokens; "
          f"beams {args.beams}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shape = dict(SHAPES[args.shape], **({"vocab_size": args.vocab} if args.vocab else {}))
        model_dir = build_nllb(tmp / "model", shape=shape)
        ct2_dir = convert(model_dir, tmp / "ct2")

        def rate(backend: str, batch: int, n: int, beam: int) -> float:
            settings = {"backend": backend, "beam_size": beam, "max_length": TOKENS, "batch_size": batch,
                        "threads": 1, "device": "cpu", "compute_type": "int8" if backend == "ctranslate2" else "float32"}
            engine = NllbBackend(model_dir, settings, ct2_dir)
            with contextlib.redirect_stderr(io.StringIO()):  # the stage's per-batch progress lines
                engine.translate(texts[:2], "hi", "en")  # warm-up
                started = time.perf_counter()
                engine.translate(texts[:n], "hi", "en")
                return n * TOKENS / (time.perf_counter() - started)

        small_n = max(8, len(texts) // 4)  # batch 1 is slow: fewer sentences, same per-token figure
        figures = {}
        for beam in beams:
            for backend in ("transformers", "ctranslate2"):
                for batch, n in ((1, small_n), (32, len(texts))):
                    figures[(beam, backend, batch)] = rate(backend, batch, n, beam)
                    print(f"beam {beam} {backend:<13} batch {batch:>2}: {figures[(beam, backend, batch)]:9.1f} "
                          f"tokens/s", flush=True)
    for beam in beams:
        for batch in (1, 32):
            ratio = figures[(beam, "ctranslate2", batch)] / figures[(beam, "transformers", batch)]
            print(f"beam {beam}: CTranslate2 int8 / transformers at batch {batch}: {ratio:.1f}x (goal >= 4x)")
        for backend in ("ctranslate2", "transformers"):
            ratio = figures[(beam, backend, 32)] / figures[(beam, backend, 1)]
            print(f"beam {beam}: {backend} batch 32 / batch 1: {ratio:.1f}x (goal >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
