"""A batch's jobs as Ray tasks on an existing Ray cluster: run-pipeline.sh -b BATCH --ray ADDRESS.

Runs in the cluster venv (./bootstrap.sh --with cluster), as the driver; run-pipeline.sh starts it.
Each unfinished job is one task that runs `run-pipeline.sh -j JOB` on whichever node Ray places it,
with the resources the job declares: CPU threads for its stages, and a GPU where its ASR engine runs
on CUDA. The nodes run the same checkout, bootstrap and model cache, and see the job directories
(out/) where the driver does (docs/user-guide/jobs.md, "Ray": a shared filesystem, or each node
bootstrapped with the cache imported from a --export bundle and out/ on shared storage).

A node lost mid-batch: Ray runs its tasks again on another node (max_retries), and each job resumes
from its last finished stage, as any killed run does. A task whose pipeline was killed (by the kernel,
or by its machine going down a moment before the worker) ends its worker too, so it counts as lost,
not as a failed job. The pipeline a task starts dies with the task's
worker (PR_SET_PDEATHSIG), so no orphan keeps the job's lock on a node Ray has given up on.

Usage (by run-pipeline.sh): python -m shared.jobs.ray_batch BATCH ADDRESS [--allow-download ...]
"""

from __future__ import annotations

import os
import sys
import time


def run_job(repo: str, out_dir: str, cache_dir: str | None, job_id: str, threads: int, flags: list[str]) -> dict:
    """One job on the node Ray chose: run-pipeline.sh -j JOB, its output appended to the job's
    logs/run.log. Returns the node, the exit code and the job's one-line error."""
    import platform
    import signal
    import subprocess

    sys.path.insert(0, repo)  # the node's checkout (Ray ships this function by value, not its module)
    from shared.core import processes

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"SUBTITLER_OUT_DIR": out_dir, "SUBTITLER_THREADS": str(threads)})
    if cache_dir:
        env["SUBTITLER_CACHE_DIR"] = cache_dir
    log = os.path.join(out_dir, job_id, "logs", "run.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    import ray

    node = ray.get_runtime_context().get_node_id()
    with open(log, "ab") as handle:
        handle.write(f"--- ray task on node {node} host {platform.node()} pgid {os.getpgid(0)} pid {os.getpid()}\n"
                     .encode())
        handle.flush()
        code = subprocess.run([os.path.join(repo, "run-pipeline.sh"), "-j", job_id, *flags], cwd=repo, env=env,
                              stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                              preexec_fn=processes.die_with_parent).returncode
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        # The pipeline was killed, not failed: its machine going down (this worker would have been
        # next, a moment later) or the kernel out of memory. The worker dies too, so Ray runs the
        # task again (max_retries) as for a lost node, and the job resumes at its last finished stage.
        os.kill(os.getpid(), signal.SIGKILL)
    return {"job_id": job_id, "node": node, "code": code}


def reachable(address: str, seconds: float = 5.0) -> None:
    """A one-line error within seconds when nothing listens at HOST:PORT (ray.init would wait for
    minutes); "auto" and other forms are left to Ray."""
    import socket

    from shared.core.errors import UserError

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start it with "
                        "`ray start --head` (.venvs/cluster/bin/ray), or check --ray / RAY_ADDRESS")


def main(argv: list[str]) -> int:
    import ray

    from shared.core import config
    from shared.jobs import batches, job_dirs, workflows
    from shared.models import hardware
    from shared.core.errors import UserError

    batch_id, address, flags = argv[0], argv[1], argv[2:]
    batch = batches.load(batch_id)
    todo = [e["job_id"] for e in batch["jobs"] if batches.job_state(e["job_id"])["state"] not in ("done", "missing")]
    print(f"batch {batch_id}: {len(batch['jobs'])} jobs, {len(todo)} to run on the Ray cluster at {address}",
          flush=True)
    reachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError ...
        raise UserError(f"cannot reach the Ray cluster at {address} ({str(exc).splitlines()[0][:200]}): start it "
                        "with `ray start --head` (cluster venv), or check --ray / RAY_ADDRESS")
    threads = int(hardware.stage_settings("asr").get("threads") or 1)
    remote = ray.remote(max_retries=3, retry_exceptions=False)(run_job)
    cache = os.environ.get(config.ENV_CACHE_DIR)
    pending = {}
    for job_id in todo:
        job = job_dirs.load_job(job_dirs.out_dir() / job_id)
        asr = workflows.stage_settings(job, "asr") if "asr" in job["stages"] else {}
        gpu = 1 if asr.get("device") == "cuda" else 0
        ref = remote.options(num_cpus=threads, num_gpus=gpu).remote(
            str(config.REPO_ROOT), str(job_dirs.out_dir()), cache, job_id, threads, flags)
        pending[ref] = job_id
    started = time.monotonic()
    results = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        job_id = pending.pop(ready[0])
        try:
            results[job_id] = ray.get(ready[0])
        except Exception as exc:  # noqa: BLE001 - the task failed past its retries (node lost again and again)
            results[job_id] = {"job_id": job_id, "node": None, "code": -1, "error": str(exc).splitlines()[0][:200]}
        found = results[job_id]
        print(f"{'done' if found['code'] == 0 else 'failed':<8} {job_id} on node {str(found['node'])[:12]} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    ray.shutdown()
    return batches.finish(batch, {j: r.get("error") or batches.last_error(job_dirs.out_dir() / j / "logs" / "run.log")
                                  for j, r in results.items() if r["code"] != 0})


if __name__ == "__main__":
    from shared.core.errors import run_cli

    run_cli(lambda: main(sys.argv[1:]), prog="run-pipeline.sh")
