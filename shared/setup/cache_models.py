"""cache-models.sh: fetch the catalog's models into the project cache so every later run is offline,
and show, verify, move and prune what is cached.

The catalog (config/models.json, read through shared.model_catalog) says what each flag fetches;
shared.models.cache does the work through huggingface_hub. The --status --json schema is documented
in docs/setup/MODEL_CACHING.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.core import config
from shared.core.errors import UserError, run_cli
from shared.models import asr_routes, cache, catalog, hardware
from shared.models.catalog import Model
from shared.translation import plan

STATUS_SCHEMA_VERSION = 1
VERIFY_FAILED_EXIT = 1


def _parser() -> argparse.ArgumentParser:
    catalog_groups = catalog.flag_groups()
    parser = argparse.ArgumentParser(
        prog="cache-models.sh",
        description="Fetch models into the project cache (.cache/huggingface, .cache/torch, .cache/mlx) so "
                    "that every later run is offline; show, verify, move and prune what is cached.",
        epilog="Gated models (IndicTrans2, pyannote) need their terms accepted on the hub and a token: "
               "HF_TOKEN, or the one `hf auth login` stores. Tokens are never written anywhere.")
    pick = parser.add_argument_group("what to fetch (or export, with --export)")
    pick.add_argument("--all", action="store_true", help="the default models of every group this machine uses")
    for group in catalog_groups:
        pick.add_argument(f"--{group}", action="store_true", help=catalog.groups()[group])
    pick.add_argument("--model", action="append", default=[], metavar="KEY|REPO[@REV]",
                      help="one model by catalog key, alias (e.g. large-v3) or hub repo id (repeatable)")
    pick.add_argument("--mlx-from", action="append", default=[], metavar="KEY",
                      help="convert a cached faster-whisper model (e.g. tiny.en) into the MLX layout for "
                           "--engine mlx; nothing is downloaded (repeatable)")
    how = parser.add_argument_group("how")
    how.add_argument("--dry-run", action="store_true", help="say what would be fetched and how many bytes")
    how.add_argument("--force", action="store_true", help="download again even if cached")
    look = parser.add_argument_group("look and maintain")
    look.add_argument("--list", action="store_true", help="the catalog: every model, cached or not, and its size")
    look.add_argument("--status", action="store_true", help="what is cached, its size, what each workflow misses")
    look.add_argument("--json", action="store_true", help="with --status: machine-readable (documented schema)")
    look.add_argument("--verify", action="store_true", help="check cached files against the hub's checksums")
    look.add_argument("--repair", action="store_true", help="with --verify: fetch corrupt or missing files again")
    look.add_argument("--remove", action="append", default=[], metavar="KEY", help="delete a model from the cache")
    look.add_argument("--prune", action="store_true", help="delete old revisions and partial downloads")
    look.add_argument("--export", metavar="FILE", help="write cached models to a bundle for an air-gapped machine")
    look.add_argument("--import", dest="import_file", metavar="FILE", help="verify a bundle, then add it to the cache")
    return parser


def _resolve(name: str) -> Model:
    repo, _, rev = name.partition("@")
    model = catalog.find(repo)
    if model is not None:
        return Model(**{**model.__dict__, "revision": rev}) if rev else model
    if "/" not in repo:
        raise UserError(f"unknown model '{name}': see ./cache-models.sh --list, or give a hub repo id (org/name)")
    return Model(key=repo, repo=repo, revision=rev or "main", group="custom", size_gb=0.0, stage="custom",
                 venv="common", gated=False, licence="unknown")


def machine_models(hw: dict | None = None) -> dict[str, Model]:
    """Every model this machine's workflows use, by role: the hardware table's ASR model for its
    engine (mlx-community's MLX weights on Apple Silicon), its VAD's where that has one, and the
    model of each translation route."""
    hw = hw or hardware.load()
    stages = hw.get("stages", {})
    asr = stages.get("asr", {})
    roles: dict[str, Model | None] = {"asr": catalog.find(asr.get("model", "base"), "asr", asr.get("engine"))}
    if stages.get("vad", {}).get("engine") == "pyannote":
        roles["vad"] = catalog.find("whisperx-vad-segmentation", "vad")
    for pair, key in plan.routes(hw).items():
        roles[f"translate {pair}"] = catalog.find(key, "translate")
    return {role: model for role, model in roles.items() if model is not None}


def _selected(args: argparse.Namespace) -> list[Model]:
    """--all: every model this machine uses. A group flag: those of the group this machine uses, or
    the group's catalog defaults where it uses none (--mlx on Linux, to carry to a Mac)."""
    catalog_groups = catalog.flag_groups()
    used = list(machine_models().values())
    models = list(used) if args.all else []
    for group in catalog_groups:
        if getattr(args, group, False):
            models += [m for m in used if m.group == group] or catalog.select([group])
    models += [_resolve(n) for n in args.model]
    unique = {m.repo: m for m in models}
    return list(unique.values())


def _fmt_bytes(n: int | float) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def _workflow_needs() -> dict:
    hw = hardware.load()
    used = machine_models(hw)
    pairs = {role.split(" ", 1)[1]: {"model": m.key, "cached": catalog.snapshot(m) is not None}
             for role, m in used.items() if role.startswith("translate ")}
    transcribe = [m.key for role, m in used.items() if role in ("asr", "vad")]
    translate = transcribe + sorted({p["model"] for p in pairs.values()})

    def missing(keys):
        return [k for k in keys if not _usable(catalog.find(k))]
    workflows = {
        "transcribe": {"needs": transcribe, "missing": missing(transcribe)},
        "translate": {"needs": translate, "missing": missing(translate)},
        "subtitle": {"needs": translate, "missing": missing(translate)},
    }
    stages = hw.get("stages", {})
    chosen = {"asr": {"model": used["asr"].key if "asr" in used else None, "why": stages.get("asr", {}).get("why"),
                      "tier": stages.get("asr", {}).get("tier"), "routes_why": stages.get("asr", {}).get("routes_why")},
              "translate": {"tier": stages.get("translate", {}).get("tier"), "why": stages.get("translate", {}).get("why")}}
    return {"workflows": workflows, "translation_pairs": pairs, "chosen": chosen,
            "english_offline": any(_usable(m) for m in catalog.load()
                                   if m.stage == "asr" and m.venv == "common" and m.embedded)}


def _usable(model: Model) -> bool:
    """Cached in the hub cache, or shipped inside a venv (the pyannote VAD model in the whisperx wheel)."""
    return catalog.snapshot(model) is not None or (model.embedded and not model.embedded_from)


def status(as_json: bool) -> int:
    rows = []
    for m in catalog.load():
        snapshot = catalog.snapshot(m)
        rows.append({"key": m.key, "repo": m.repo, "group": m.group, "stage": m.stage, "revision": m.revision,
                     "cached": snapshot is not None, "commit": snapshot.name if snapshot else None,
                     "size_bytes": cache.disk_size(m) if snapshot else 0, "embedded": m.embedded,
                     "gated": m.gated, "licence": m.licence, "non_commercial": catalog.non_commercial(m),
                     "languages": list(m.languages)})
    copies = [{"key": m.key, "repo": m.repo, "commit": path.name, "path": str(path),
               "size_bytes": cache.dir_size(path)}
              for m, path in catalog.mlx_copies()]
    needs = _workflow_needs()
    punkt = cache.sentence_splitter_dir()
    splitter = {"cached": (punkt / "english").is_dir(), "path": str(punkt)}
    routes = asr_route_rows()
    if as_json:
        print(json.dumps({"schema_version": STATUS_SCHEMA_VERSION, "hub_cache": str(catalog.hub_dir()),
                          "models": rows, "mlx_copies": copies, **needs, "asr_routes": routes,
                          "sentence_splitter": splitter}, indent=2))
        return 0
    cached = [r for r in rows if r["cached"]]
    print(f"cache: {config.display_path(catalog.hub_dir())} "
          f"({len(cached)} models, {_fmt_bytes(sum(r['size_bytes'] for r in cached))})")
    for r in cached:
        note = " (embedded)" if r["embedded"] else ""
        print(f"  {r['key']:<34} {r['repo']:<48} {_fmt_bytes(r['size_bytes']):>10}{note}")
    for c in copies:
        print(f"  {'MLX copy of ' + c['key']:<34} {'(--mlx-from; --engine mlx)':<48} {_fmt_bytes(c['size_bytes']):>10}")
    if splitter["cached"] or any(r["cached"] and r["group"] == "align" for r in rows):
        print(f"  {'NLTK punkt_tab':<34} {'(WhisperX alignment)':<48} {'cached' if splitter['cached'] else 'missing':>10}")
    for name, wf in needs["workflows"].items():
        state = "ready" if not wf["missing"] else "missing " + ", ".join(wf["missing"]) + \
            " (./cache-models.sh --all fetches them)"
        print(f"{name:<11} {state}")
    for pair, info in needs["translation_pairs"].items():
        print(f"  {pair:<12} {info['model']:<32} {'cached' if info['cached'] else 'not cached'}{_nc(info['model'])}")
    _print_routes(routes)
    _print_choices(needs["chosen"])
    return 0


def asr_route_rows() -> list[dict]:
    """Each language's ASR route on this machine: its model, whether it is ready, its licence and
    the published figure it is chosen for."""
    out = []
    for language, key in sorted(asr_routes.routes().items()):
        model = catalog.find(key, "asr")
        if model is None:
            continue
        out.append({"language": language, "model": model.key, "repo": model.repo, "base": model.base,
                    "size_gb": model.size_gb, "licence": model.licence, "ready": catalog.loadable(model) is not None,
                    "published": model.published, "fetch": catalog.fetch_command(model)})
    return out


def _nc(key: str) -> str:
    model = catalog.find(key)
    return f"  {model.licence.upper()}: non-commercial use only" if model and catalog.non_commercial(model) else ""


def _print_routes(routes: list[dict]) -> None:
    print("ASR per language (a job of that language uses the route when it is ready; others use the default):")
    for r in routes:
        state = "ready" if r["ready"] else f"not cached: {r['fetch']}"
        print(f"  {r['language']:<4} {r['model']:<28} {r['base'] or '':<9} {r['licence']:<11} "
              f"{asr_routes.published(catalog.find(r['model'], 'asr')):<46} {state}")


def _print_choices(chosen: dict) -> None:
    print("chosen for this machine (config/hardware_cache.json; ./bootstrap.sh detects again):")
    print(f"  ASR {chosen['asr']['model']}: {chosen['asr']['why']}")
    if chosen["asr"].get("routes_why"):
        print(f"  ASR routes tier {chosen['asr']['tier']}: {chosen['asr']['routes_why']}")
    print(f"  translation tier {chosen['translate']['tier']}: {chosen['translate']['why']}")


def list_catalog() -> int:
    used = {m.key: role for role, m in machine_models().items()}
    for m in catalog.load():
        cached = "cached" if catalog.snapshot(m) is not None else ""
        flags = ", ".join(f for f in ("embedded" if m.embedded else "", "gated" if m.gated else "",
                                      "NON-COMMERCIAL" if catalog.non_commercial(m) else "",
                                      f"heard: {','.join(m.languages)}" if m.stage == "asr" and m.languages else "",
                                      f"this machine's {used[m.key]}" if m.key in used else "") if f)
        print(f"{m.key:<36} {m.repo:<50} {m.size_gb:7.2f} GB  {m.group:<11} {m.licence:<14} {cached:<7} {flags}")
    _print_routes(asr_route_rows())
    _print_choices(_workflow_needs()["chosen"])
    return 0


def mlx_from(names: list[str], force: bool) -> int:
    """Convert cached CTranslate2 Whisper models into the MLX layout (shared/models/mlx_convert.py)."""
    from shared.models import mlx_convert

    for name in names:
        model = catalog.find(name, "asr", "faster-whisper")
        if model is None:
            known = ", ".join(a for m in catalog.load() if m.stage == "asr" and m.venv != "mlx" for a in m.aliases)
            raise UserError(f"--mlx-from takes a faster-whisper model of the catalog ({known}), not '{name}'")
        if catalog.snapshot(model) is not None:
            cache.check_intact(model)
        path, made = mlx_convert.cache_copy(model, force)
        print(f"{model.key:<36} {'converted to' if made else 'already converted at'} {config.display_path(path)} "
              f"({_fmt_bytes(cache.dir_size(path))}): --engine mlx --model {name} uses it")
    return 0


def fetch(models: list[Model], dry_run: bool, force: bool) -> int:
    if not models:
        raise UserError("say what to fetch: --all, --whisperx, --indictrans2, --nllb, --mlx or --model KEY "
                        "(see --help)")
    remote = []
    for m in models:
        if m.embedded:
            if m.embedded_from and catalog.snapshot(m) is None and not dry_run:
                cache.register_embedded(m)
                print(f"{m.key:<36} embedded: registered from its package, nothing downloaded")
            else:
                print(f"{m.key:<36} embedded, nothing to fetch")
        elif catalog.snapshot(m) is not None and not force:
            print(f"{m.key:<36} {m.repo}@{m.revision[:12]}: cached ({_fmt_bytes(cache.disk_size(m))}), "
                  "nothing to fetch")
        else:
            remote.append(m)
    if not remote:
        print("total to download: 0 (everything asked for is here)")
        return 0
    if dry_run:
        cache.quiet_hub_logging()
        unreachable = cache.hub_unreachable()
        if unreachable:
            return _plan_from_catalog(remote, unreachable)
    else:
        cache.require_hub(remote[0])
    plans = []
    for m in remote:
        todo, total = cache.plan(m)
        if force:
            todo = total
        plans.append((m, todo, total))
        print(f"{m.key:<36} {m.repo}@{m.revision[:12]}: {_fmt_bytes(todo)} to download of {_fmt_bytes(total)}")
    need = sum(todo for _, todo, _ in plans)
    print(f"total to download: {_fmt_bytes(need)}")
    if dry_run:
        return 0
    cache.check_disk(need)
    for m, todo, _ in plans:
        print(f"fetching {m.repo} ...", flush=True)
        path = cache.fetch(m, force=force)
        print(f"  cached {m.key} at {config.display_path(path)}")
    return 0


def _plan_from_catalog(models: list[Model], why: str) -> int:
    """A dry run with no hub: what the catalog says each model is (files, approximate size)."""
    print(f"hub not reachable ({why}): planning from the catalog; sizes are its estimates")
    for m in models:
        print(f"{m.key:<36} {m.repo}@{m.revision[:12]}: about {m.size_gb:.2f} GB to download "
              f"({', '.join(m.files)})")
    size, minutes = catalog.estimate(models)
    print(f"total to download: about {size} GB (about {minutes} min at "
          f"{catalog.ASSUMED_DOWNLOAD_MB_PER_S:.0f} MB/s)")
    return 0


def verify(models: list[Model], repair: bool) -> int:
    targets = models or [m for m in catalog.load() if catalog.read_record(m.repo)]
    still_bad = []
    for m in targets:
        problems = cache.verify(m)
        if not problems:
            print(f"ok       {m.key}")
            continue
        print(f"CORRUPT  {m.key}: {'; '.join(problems)}")
        if repair:
            if problems not in (["not cached"], ["snapshot missing"]):
                cache.drop_files(m, [p.split(":")[0] for p in problems])
            if m.embedded_from:
                cache.register_embedded(m)  # from its package: no network
            else:
                cache.require_hub(m)
                cache.fetch(m)
            problems = cache.verify(m)
            print(f"{'STILL BAD' if problems else 'repaired'} {m.key}")
        if problems:
            still_bad.append(m.key)
    if still_bad:
        print(f"{len(still_bad)} model(s) failed verification: run ./cache-models.sh --verify --repair",
              file=sys.stderr)
        return VERIFY_FAILED_EXIT
    return 0


def main() -> int:
    args = _parser().parse_args()
    if args.list:
        return list_catalog()
    if args.status:
        return status(args.json)
    if args.import_file:
        repos = cache.import_bundle(Path(args.import_file))
        print(f"imported {len(repos)} model(s): {', '.join(repos)}")
        return 0
    if args.export:
        models = _selected(args) or catalog.load()
        manifest = cache.export_bundle(models, Path(args.export))
        print(f"exported {len(manifest['models'])} model(s) to {args.export}")
        return 0
    if args.remove:
        for name in args.remove:
            model = _resolve(name)
            print(f"removed {model.key} ({_fmt_bytes(cache.remove(model))})")
        return 0
    if args.prune:
        print(f"pruned {_fmt_bytes(cache.prune())}")
        return 0
    if args.verify:
        return verify(_selected(args), args.repair)
    if args.mlx_from:
        return mlx_from(args.mlx_from, args.force)
    return fetch(_selected(args), args.dry_run, args.force)


if __name__ == "__main__":
    run_cli(main, prog="cache-models.sh")
