"""The embedded Whisper tiny.en, registered by bootstrap, resolves offline by its hub name."""

import json
import subprocess

from shared.environment_manager import EnvironmentManager

PROBE = """
import json, sys
from huggingface_hub import snapshot_download
from faster_whisper import WhisperModel
path = snapshot_download("Systran/faster-whisper-tiny.en", local_files_only=True)
model = WhisperModel("tiny.en", device="cpu", compute_type="int8", cpu_threads=1)
segments, info = model.transcribe(sys.argv[1], vad_filter=True)
print(json.dumps({"path": path, "text": " ".join(s.text for s in segments), "language": info.language}))
"""


def test_tiny_en_transcribes_offline_by_name(tmp_path):
    wav = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Good morning. The weather is nice today."], check=True)
    manager = EnvironmentManager()
    env = manager.stage_env("common")
    assert env["HF_HUB_OFFLINE"] == "1"
    result = subprocess.run([str(manager.python_for("common")), "-c", PROBE, str(wav)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["path"].startswith(env["HF_HUB_CACHE"])
    words = out["text"].lower()
    assert "morning" in words and "weather" in words, out
    assert out["language"] == "en"
