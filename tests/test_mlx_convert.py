"""The CTranslate2 -> MLX-Whisper converter (issue 14, part 3), proven on real weights: the embedded
tiny.en (Systran/faster-whisper-tiny.en, registered by bootstrap) converted by shared/models/mlx_convert.py,
then loaded by the real mlx-whisper on MLX's Linux CPU backend (the mlx venv), must transcribe the
sample as faster-whisper does on the same weights: within WER 0.02, and sentence starts within 0.3 s.
A wrong tensor name, a missed transpose or a swapped q/k/v split gives garbage, not near-misses."""

import json
import subprocess

import pytest

from conftest import REPO, clean_env
from shared.core.scoring import word_error_rate
from shared.models import catalog

SAMPLE = REPO / "scripts" / "sample" / "sample.en.flac"
MLX_PYTHON = REPO / ".venvs" / "mlx" / "bin" / "python"
COMMON_PYTHON = REPO / ".venvs" / "common" / "bin" / "python"

MLX_RUN = """
import json, sys, mlx_whisper
r = mlx_whisper.transcribe(sys.argv[1], path_or_hf_repo=sys.argv[2], language="en", word_timestamps=True)
print(json.dumps([[s["start"], s["text"]] for s in r["segments"]]))
"""
FW_RUN = """
import json, sys
from faster_whisper import WhisperModel
m = WhisperModel(sys.argv[2], device="cpu", compute_type="float32", cpu_threads=2)
segments, _ = m.transcribe(sys.argv[1], language="en", beam_size=1, word_timestamps=True)
print(json.dumps([[s.start, s.text] for s in segments]))
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    source = catalog.require("tiny.en", "asr")
    out = tmp_path_factory.mktemp("mlx") / "tiny.en"
    subprocess.run([str(COMMON_PYTHON), "-m", "shared.models.mlx_convert", str(source), str(out)], cwd=REPO,
                   env=clean_env(PYTHONPATH=str(REPO)), check=True, capture_output=True, text=True)
    return source, out


def test_the_converted_layout(converted):
    _, out = converted
    config = json.loads((out / "config.json").read_text())
    assert config == {"model_type": "whisper", "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384,
                      "n_audio_head": 6, "n_audio_layer": 4, "n_vocab": 51864, "n_text_ctx": 448,
                      "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4}  # tiny.en's dimensions
    import numpy as np

    with np.load(out / "weights.npz") as weights:
        assert weights["encoder.conv1.weight"].shape == (384, 3, 80)  # MLX's (out, kernel, in)
        assert "decoder.blocks.3.cross_attn.key.bias" not in weights and "decoder.blocks.3.cross_attn.value.bias" in weights
        assert weights["decoder.token_embedding.weight"].dtype == np.float16


@pytest.mark.skipif(not MLX_PYTHON.exists(), reason="the mlx venv is not built (./bootstrap.sh --with mlx)")
def test_mlx_whisper_hears_what_faster_whisper_hears_on_the_same_weights(converted):
    source, out = converted
    env = clean_env(HF_HUB_OFFLINE="1")
    mlx = json.loads(subprocess.run([str(MLX_PYTHON), "-c", MLX_RUN, str(SAMPLE), str(out)], env=env, check=True,
                                    capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1])
    fw = json.loads(subprocess.run([str(COMMON_PYTHON), "-c", FW_RUN, str(SAMPLE), str(source)], env=env, check=True,
                                   capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1])
    mlx_text, fw_text = " ".join(t for _, t in mlx), " ".join(t for _, t in fw)
    assert len(fw_text.split()) > 30
    assert word_error_rate(fw_text, mlx_text) <= 0.02, (fw_text, mlx_text)
    truth = json.loads((REPO / "scripts" / "sample" / "sample.en.truth.json").read_text())["sentences"]
    assert len(mlx) == len(fw) == len(truth)
    for (mlx_start, _), (fw_start, _) in zip(mlx, fw):
        assert abs(mlx_start - fw_start) <= 0.3


def test_a_quantized_or_foreign_model_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    (bad / "config.json").write_text("{}")
    result = subprocess.run([str(COMMON_PYTHON), "-c", "import sys; from shared.models import mlx_convert; "
                             "from shared.core.errors import run_cli; from pathlib import Path; "
                             "run_cli(lambda: mlx_convert.convert(Path(sys.argv[1]), Path(sys.argv[2])) and 0)",
                             str(bad), str(tmp_path / "out")], cwd=REPO, env=clean_env(PYTHONPATH=str(REPO)),
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "model.bin" in result.stderr
