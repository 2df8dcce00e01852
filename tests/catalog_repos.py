"""Small stand-ins for the catalog's repos, served by tests/hub_server.py under the real repo ids and
pinned revisions, so cache-models.sh and bootstrap fetch exactly as they would from the hub.

Whisper repos get placeholder files (nothing loads them here). NLLB and IndicTrans2 repos get real tiny
models in their architectures (tests/tiny_models.py, random weights, built once per test session in
the translate venv), because cache-models converts them to CTranslate2 right after download and the
conversion must succeed.
"""

import functools
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

from conftest import REPO, clean_env
from shared.models import catalog
from tiny_models import build_in_venv

BIG = 12 * 2**20  # past huggingface_hub's 10 MiB write chunk, so a cut download resumes with Range



def machine_downloads() -> list[str]:
    """What --all downloads on this machine: the models config/hardware_cache.json's choices use,
    less the embedded ones, in the order cache-models fetches them."""
    from shared.setup.cache_models import machine_models

    keys = [m.key for m in machine_models().values() if not m.embedded]
    return list(dict.fromkeys(keys))


@functools.lru_cache(maxsize=None)
def tiny_nllb(overfit: bool = False) -> Path:
    out = Path(tempfile.mkdtemp(prefix="tiny-nllb-")) / "model"
    return build_in_venv(REPO / ".venvs/translate/bin/python", out, overfit=overfit)


@functools.lru_cache(maxsize=None)
def tiny_indictrans2(direction: str) -> Path:
    out = Path(tempfile.mkdtemp(prefix="tiny-it2-")) / "model"
    subprocess.run([str(REPO / ".venvs/translate/bin/python"), str(REPO / "tests/tiny_models.py"), "indictrans2",
                    str(out), "--direction", direction], env={**clean_env(), "PYTHONPATH": str(REPO),
                                                             "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
                   check=True, capture_output=True)
    return out


def nllb_files(sharded: bool, overfit: bool = False) -> dict:
    source = tiny_nllb(overfit)
    files = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
    if sharded:  # the 3.3B repo's layout: weights in shards named by an index
        shard = "pytorch_model-00001-of-00001.bin"
        files[shard] = files.pop("pytorch_model.bin")
        keys = subprocess.run([str(REPO / ".venvs/translate/bin/python"), "-c",
                               "import sys, torch, json; print(json.dumps(list(torch.load(sys.argv[1]).keys())))",
                               str(source / "pytorch_model.bin")], capture_output=True, text=True, check=True).stdout
        files["pytorch_model.bin.index.json"] = json.dumps(
            {"metadata": {"total_size": len(files[shard])}, "weight_map": {k: shard for k in json.loads(keys)}}).encode()
    return files


def fake_files(model, big=False):
    if model.group == "nllb":
        files = nllb_files(sharded=model.key == "nllb-200-3.3b")
    elif model.group == "indictrans2":
        direction = next(d for d in ("indic-en", "en-indic", "indic-indic") if d in model.key)
        files = {p.name: p.read_bytes() for p in tiny_indictrans2(direction).iterdir() if p.is_file()}
    else:
        files = {name: f"{model.repo} {name}\n".encode() * 4 for name in set(model.required) | {"config.json"}}
    if model.group == "whisperx":
        files["model.bin"] = (hashlib.sha256(model.repo.encode()).digest() * (BIG // 32 if big else 4096))
    files["README.md"] = b"not in the catalog's file patterns"
    return files


def serve(hub, keys, big=(), files=None):
    for key in keys:
        model = catalog.find(key)
        hub.add_repo(model.repo, (files or {}).get(key) or fake_files(model, key in big), gated=model.gated,
                     commit=model.revision)

