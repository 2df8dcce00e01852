"""Which Whisper model hears a job's language: the Indic-tuned route of the language where one is
cached, else the machine's default, with one line saying what would hear it better.

The routes are the catalog's asr_tiers row for this machine (config/hardware_cache.json records
the tier and why; shared/models/hardware.py chooses it). A job's own --model always wins. With
-s auto the route is taken after detection (the asr stage detects with the default model first).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core import languages
from shared.models import catalog, hardware

# the engines that load CTranslate2 Whisper models (the fine-tunes are converted to it)
CT2_ENGINES = ("faster-whisper", "whisperx")


@dataclass(frozen=True)
class Route:
    model: str            # what the engine loads: a catalog key, an alias or a model directory
    why: str
    hint: str | None = None  # the one line that says which model would serve the language better


def routes(hw: dict | None = None) -> dict[str, str]:
    """{language: model key} on this machine (a hardware_cache.json written before the routes
    existed gets the tier its hardware would choose now)."""
    return hardware.routes("asr", hw)


def published(model: catalog.Model) -> str:
    """"published WER FLEURS 9.02, Common Voice 11 14.12" or "no published WER"."""
    names = {"fleurs": "FLEURS", "common_voice_11": "Common Voice 11", "kathbath": "Kathbath"}
    wer = (model.published or {}).get("wer") or {}
    if not wer:
        return "no published WER"
    return "published WER " + ", ".join(f"{names.get(k, k)} {v:g}" for k, v in wer.items())


def route_model(language: str | None, hw: dict | None = None) -> catalog.Model | None:
    if not language or language == languages.AUTO:
        return None
    key = routes(hw).get(language.partition("-")[0])
    return catalog.find(key, "asr") if key else None


def choose(language: str | None, settings: dict, job_model: str | None, hw: dict | None = None) -> Route:
    """The model for the job's language: the job's --model, else the language's route when cached
    (and the engine loads CTranslate2 models), else the machine's default with a hint line."""
    default = settings["model"]
    if job_model:
        return Route(job_model, "the job's --model")
    model = route_model(language, hw)
    if model is None:
        return Route(default, f"the machine's default ({settings.get('why') or 'config/hardware_cache.json'})")
    name = languages.name(language)
    if settings.get("engine") not in CT2_ENGINES:
        return Route(default, f"the machine's default: the {name} fine-tune {model.key} runs on "
                              f"{' or '.join(CT2_ENGINES)}, not {settings.get('engine')}")
    if catalog.loadable(model) is not None:
        return Route(model.key, f"the {name} route: {model.repo} ({model.base}, {published(model)}, "
                                f"licence {model.licence})")
    hint = (f"{model.key} ({model.repo}, {published(model)}) would hear {name} better than "
            f"Whisper {default}; fetch it once with {catalog.fetch_command(model)} (about {model.size_gb:g} GB)")
    return Route(default, f"the machine's default: the {name} route {model.key} is not cached", hint)
