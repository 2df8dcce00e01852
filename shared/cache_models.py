"""cache-models.sh: fetch models into the project cache so every later run is offline.

This is the front of the Model cache work. What exists now: the catalog (--list), what is cached
(--status, read with huggingface_hub's own cache scanner) and the selection flags, which say exactly
which models they would fetch. Downloading itself is not built yet; asking for it says so and exits
with status 3, so no script mistakes "nothing fetched" for success.
"""

from __future__ import annotations

import argparse
import json
import sys

from shared import config, hardware, model_catalog
from shared.errors import UserError, run_cli

NOT_BUILT_EXIT = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cache-models.sh",
        description="Fetch models into the project cache (.cache/huggingface, .cache/torch, .cache/mlx) "
                    "so that every later run is offline.")
    pick = parser.add_argument_group("what to fetch")
    pick.add_argument("--all", action="store_true", help="every default model for this machine")
    for group, about in model_catalog.groups().items():
        if group in config.load_json(config.MODEL_CATALOG_PATH)["all_groups"]:
            pick.add_argument(f"--{group}", action="store_true", help=about)
    look = parser.add_argument_group("look, fetch nothing")
    look.add_argument("--list", action="store_true", help="the catalog: every model, its size and group")
    look.add_argument("--status", action="store_true", help="what is cached now, and its size on disk")
    look.add_argument("--json", action="store_true", help="with --status: machine-readable output")
    return parser


def _status(as_json: bool) -> int:
    from huggingface_hub import scan_cache_dir

    hub = config.cache_paths()["hf_hub_cache"]
    repos = []
    if hub.is_dir():
        for repo in sorted(scan_cache_dir(hub).repos, key=lambda r: r.repo_id):
            repos.append({"repo": repo.repo_id, "size_bytes": repo.size_on_disk,
                          "refs": sorted(ref for rev in repo.revisions for ref in rev.refs),
                          "revisions": sorted(rev.commit_hash for rev in repo.revisions)})
    if as_json:
        print(json.dumps({"hub_cache": str(hub), "repos": repos}, indent=2))
        return 0
    print(f"hub cache: {config.display_path(hub)}")
    if not repos:
        print("  nothing cached")
    for repo in repos:
        print(f"  {repo['repo']:<50} {repo['size_bytes'] / 2**20:9.1f} MB  refs: {', '.join(repo['refs']) or '-'}")
    return 0


def main() -> int:
    args = _parser().parse_args()
    catalog_groups = config.load_json(config.MODEL_CATALOG_PATH)["all_groups"]
    if args.list:
        for m in model_catalog.load():
            note = " (embedded: ships with the common venv)" if m.embedded else ""
            print(f"{m.key:<30} {m.repo:<48} {m.size_gb:6.2f} GB  {m.group}{note}")
        return 0
    if args.status:
        return _status(args.json)
    groups = model_catalog.all_groups(hardware.load()) if args.all else [
        g for g in catalog_groups if getattr(args, g, False)]
    if not groups:
        raise UserError("say what to fetch: --all, or one of "
                        + ", ".join(f"--{g}" for g in catalog_groups) + " (see --help)")
    models = model_catalog.select(groups)
    size_gb, minutes = model_catalog.estimate(models)
    print(f"Selected {len(models)} models, about {size_gb} GB (about {minutes} min at "
          f"{model_catalog.ASSUMED_DOWNLOAD_MB_PER_S:.0f} MB/s):")
    for m in models:
        print(f"  {m.repo} ({m.size_gb} GB)")
    print("cache-models.sh: downloading is not built yet; nothing was fetched. "
          "The embedded Whisper tiny.en is already registered by bootstrap.", file=sys.stderr)
    return NOT_BUILT_EXIT


if __name__ == "__main__":
    run_cli(main, prog="cache-models.sh")
