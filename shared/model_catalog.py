"""The model catalog (config/models.json): the one table of every model the stages use.

cache-models.sh, bootstrap's caching prompt and the stages read it here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import config

# A planning figure for the prompt's time estimate: a home connection, not a data centre.
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
    default: bool = False
    embedded: bool = False


def load() -> list[Model]:
    catalog = config.load_json(config.MODEL_CATALOG_PATH)
    fields = Model.__dataclass_fields__
    return [Model(**{k: v for k, v in entry.items() if k in fields}) for entry in catalog["models"]]


def groups() -> dict[str, str]:
    return config.load_json(config.MODEL_CATALOG_PATH)["groups"]


def all_groups(hardware: dict | None = None) -> list[str]:
    """What --all means on this machine: MLX models only where MLX runs."""
    names = config.load_json(config.MODEL_CATALOG_PATH)["all_groups"]
    if hardware is not None and not hardware.get("mlx", {}).get("available"):
        names = [name for name in names if name != "mlx"]
    return names


def select(group_names: list[str]) -> list[Model]:
    """The default models of the named groups; embedded models need no download."""
    return [m for m in load() if m.group in group_names and m.default and not m.embedded]


def estimate(models: list[Model]) -> tuple[float, int]:
    """Total size in GB and a rough download time in minutes."""
    size_gb = sum(m.size_gb for m in models)
    minutes = max(1, round(size_gb * 1024 / ASSUMED_DOWNLOAD_MB_PER_S / 60))
    return round(size_gb, 1), minutes
