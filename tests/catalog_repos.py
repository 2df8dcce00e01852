"""Small stand-ins for the catalog's repos, served by tests/hub_server.py under the real repo ids and
pinned revisions, so cache-models.sh and bootstrap fetch exactly as they would from the hub."""

import hashlib

from shared import model_catalog

BIG = 12 * 2**20  # past huggingface_hub's 10 MiB write chunk, so a cut download resumes with Range


def fake_files(model, big=False):
    files = {}
    for name in set(model.required) | {"config.json"}:
        files[name] = f"{model.repo} {name}\n".encode() * 4
    if model.group == "whisperx":
        files["model.bin"] = (hashlib.sha256(model.repo.encode()).digest() * (BIG // 32 if big else 4096))
    files["README.md"] = b"not in the catalog's file patterns"
    return files


def serve(hub, keys, big=()):
    for key in keys:
        model = model_catalog.find(key)
        hub.add_repo(model.repo, fake_files(model, key in big), gated=model.gated, commit=model.revision)


# What --all fetches on a CPU machine (no MLX), per the catalog's defaults.
DEFAULT_CPU = ["whisper-large-v3", "indictrans2-indic-en-1b", "indictrans2-en-indic-1b",
               "indictrans2-indic-indic-1b", "nllb-200-3.3b"]


