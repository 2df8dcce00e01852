"""A CTranslate2 Whisper model directory (faster-whisper's layout) converted to the MLX-Whisper layout
(config.json with the model's dimensions, weights.npz with the weights named as mlx-whisper's
Whisper module holds them), so the real Whisper weights of a model cached for faster-whisper serve the
mlx engine without a download. numpy only: it runs in any venv.

CTranslate2's model.bin (binary version 6, as ctranslate2/specs/model_spec.py writes it): a uint32
version, the spec name and a uint32 revision, a uint32 count of variables, each a name, a uint8 rank,
uint32 dimensions, a uint8 type (float32, int8, int16, int32, float16, bfloat16), a uint32 byte count
and the data; then a uint32 count of aliases, each an alias and the name it stands for. Strings are a
uint16 length (with the terminating NUL), the bytes and the NUL.

The Whisper variables (CTranslate2's WhisperSpec) and where they go:
  encoder/conv{1,2}/{weight,bias}                  encoder.conv{1,2} (weight (out, in, k) -> MLX's (out, k, in))
  encoder/layer_N/self_attention/linear_0          q, k, v fused (3 * d rows) -> attn.query / key / value
  encoder/layer_N/self_attention/linear_1          attn.out
  encoder/layer_N/self_attention/layer_norm        attn_ln (gamma -> weight, beta -> bias)
  encoder/layer_N/ffn/linear_{0,1}, layer_norm     mlp1, mlp2, mlp_ln
  encoder/layer_norm                               encoder.ln_post
  decoder/embeddings/weight                        decoder.token_embedding (the output projection is its alias)
  decoder/position_encodings/encodings             decoder.positional_embedding
  decoder/layer_N/self_attention/...               as the encoder's
  decoder/layer_N/attention/linear_0               cross_attn.query
  decoder/layer_N/attention/linear_1               k, v fused (2 * d rows) -> cross_attn.key / value
  decoder/layer_N/attention/linear_2, layer_norm   cross_attn.out, cross_attn_ln
  decoder/layer_norm                               decoder.ln
The encoder's position encodings are sinusoids that mlx-whisper computes itself. Keys carry no bias in
Whisper (CTranslate2 stores a zero one, dropped). The alignment heads come from config.json.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from shared.core.errors import UserError

TYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


def read_model_bin(path: Path) -> tuple[str, dict]:
    """(spec name, {variable name: numpy array}) of a CTranslate2 model.bin, aliases resolved."""
    import numpy as np

    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal pos
        size = take("H")
        value = data[pos:pos + size - 1].decode("utf-8")
        pos += size
        return value

    try:
        version = take("I")
        if version < 5:
            raise UserError(f"{path}: CTranslate2 model format {version} is too old to convert (5 or later)")
        spec = text()
        take("I")  # the spec's revision
        variables = {}
        for _ in range(take("I")):
            name, rank = text(), take("B")
            shape = [take("I") for _ in range(rank)]
            kind, size = TYPES.get(take("B")), take("I")
            raw = data[pos:pos + size]
            pos += size
            if kind == "bfloat16":  # numpy has none: widen to float32 by the high half
                array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(kind))
            variables[name] = array.reshape(shape)
        for _ in range(take("I")):
            alias, target = text(), text()
            variables[alias] = variables[target]
    except (struct.error, TypeError, ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not a CTranslate2 model.bin this converter can read (cut short or damaged): "
                        "run ./cache-models.sh --verify") from None
    return spec, variables


def _linear(out: dict, prefix: str, variables: dict, source: str, bias: bool = True) -> None:
    out[f"{prefix}.weight"] = variables[f"{source}/weight"]
    if bias:
        out[f"{prefix}.bias"] = variables[f"{source}/bias"]


def _norm(out: dict, prefix: str, variables: dict, source: str) -> None:
    out[f"{prefix}.weight"] = variables[f"{source}/gamma"]
    out[f"{prefix}.bias"] = variables[f"{source}/beta"]


def _split(out: dict, names: list[str], variables: dict, source: str) -> None:
    """A fused projection (rows of q, k, v stacked) split into its parts; keys get no bias."""
    import numpy as np

    weights = np.split(variables[f"{source}/weight"], len(names))
    biases = np.split(variables[f"{source}/bias"], len(names))
    for name, weight, bias in zip(names, weights, biases):
        out[f"{name}.weight"] = weight
        if not name.endswith(".key"):
            out[f"{name}.bias"] = bias


def _quantized(variables: dict) -> bool:
    return any(name.endswith("_scale") for name in variables)


def convert(model_dir: Path, out_dir: Path) -> Path:
    """Write config.json and weights.npz for mlx-whisper into out_dir from a CTranslate2 Whisper model
    directory (model.bin, config.json); returns out_dir. Float16 weights stay float16."""
    import numpy as np

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    spec, variables = read_model_bin(model_dir / "model.bin")
    if spec != "WhisperSpec":
        raise UserError(f"{model_dir} holds a {spec}, not a Whisper model: nothing to convert for mlx")
    if _quantized(variables):
        raise UserError(f"{model_dir} is quantized (int8) on disk: convert a float16 or float32 copy")
    layers = {kind: 1 + max(int(m.group(1)) for name in variables
                            if (m := re.match(rf"{kind}/layer_(\d+)/", name)))
              for kind in ("encoder", "decoder")}
    state = int(variables["encoder/conv1/weight"].shape[0])
    weights: dict = {
        "encoder.conv1.weight": variables["encoder/conv1/weight"].transpose(0, 2, 1),
        "encoder.conv1.bias": variables["encoder/conv1/bias"],
        "encoder.conv2.weight": variables["encoder/conv2/weight"].transpose(0, 2, 1),
        "encoder.conv2.bias": variables["encoder/conv2/bias"],
        "decoder.token_embedding.weight": variables["decoder/embeddings/weight"],
        "decoder.positional_embedding": variables["decoder/position_encodings/encodings"],
    }
    _norm(weights, "encoder.ln_post", variables, "encoder/layer_norm")
    _norm(weights, "decoder.ln", variables, "decoder/layer_norm")
    for kind in ("encoder", "decoder"):
        for i in range(layers[kind]):
            src, dst = f"{kind}/layer_{i}", f"{kind}.blocks.{i}"
            _split(weights, [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], variables,
                   f"{src}/self_attention/linear_0")
            _linear(weights, f"{dst}.attn.out", variables, f"{src}/self_attention/linear_1")
            _norm(weights, f"{dst}.attn_ln", variables, f"{src}/self_attention/layer_norm")
            _linear(weights, f"{dst}.mlp1", variables, f"{src}/ffn/linear_0")
            _linear(weights, f"{dst}.mlp2", variables, f"{src}/ffn/linear_1")
            _norm(weights, f"{dst}.mlp_ln", variables, f"{src}/ffn/layer_norm")
            if kind == "decoder":
                _linear(weights, f"{dst}.cross_attn.query", variables, f"{src}/attention/linear_0")
                _split(weights, [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"], variables,
                       f"{src}/attention/linear_1")
                _linear(weights, f"{dst}.cross_attn.out", variables, f"{src}/attention/linear_2")
                _norm(weights, f"{dst}.cross_attn_ln", variables, f"{src}/attention/layer_norm")
    ct2_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads = int(np.asarray(variables["encoder/num_heads"]).reshape(-1)[0])
    text_heads = int(np.asarray(variables["decoder/num_heads"]).reshape(-1)[0])
    if ct2_config.get("alignment_heads"):
        weights["alignment_heads"] = np.asarray(ct2_config["alignment_heads"], dtype=np.int32)
    config = {"model_type": "whisper",
              "n_mels": int(variables["encoder/conv1/weight"].shape[1]),
              "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
              "n_audio_state": state, "n_audio_head": heads, "n_audio_layer": layers["encoder"],
              "n_vocab": int(variables["decoder/embeddings/weight"].shape[0]),
              "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
              "n_text_state": int(variables["decoder/embeddings/weight"].shape[1]),
              "n_text_head": text_heads, "n_text_layer": layers["decoder"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "weights.npz", **{k: np.ascontiguousarray(v) for k, v in weights.items()})
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out_dir


def cache_copy(model, force: bool = False) -> tuple[Path, bool]:
    """The MLX copy of a cached CTranslate2 Whisper model, converted into the cache
    (<mlx_home>/from-ct2/<repo folder>/<commit>) if not there yet; returns its path and whether it was
    made now. Written beside its place and renamed into it, so an interrupted conversion leaves
    nothing that looks finished."""
    import os
    import shutil

    from shared.core import files
    from shared.models import catalog

    source = catalog.snapshot(model)
    if source is None:
        raise UserError(f"model {model.repo} ({model.key}) is not cached: run "
                        f"{catalog.fetch_command(model)}, then --mlx-from again")
    out = catalog.mlx_copy_dir(model, source.name)
    if catalog.mlx_copy(model) is not None and not force:
        return out, False
    out.parent.mkdir(parents=True, exist_ok=True)
    need = (source / "model.bin").stat().st_size
    free = shutil.disk_usage(out.parent).free
    if free < need + 2**28:
        raise UserError(f"not enough free disk in {out.parent}: {free / 2**30:.1f} GB free, about "
                        f"{need / 2**30:.1f} GB needed for the MLX copy; free space or set MLX_CACHE_DIR")
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        convert(source, partial)
        files.write_json_atomic(partial / "source.json", {"key": model.key, "repo": model.repo, "commit": source.name,
                                                          "converter": "shared/models/mlx_convert.py"})
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out, True


if __name__ == "__main__":
    import sys

    print(convert(Path(sys.argv[1]), Path(sys.argv[2])))
