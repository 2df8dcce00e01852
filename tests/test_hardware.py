"""config/hardware_cache.json on this machine, and the choices that follow from other machines."""

import os
import shutil

from shared.core import config
from shared.models import hardware
from shared.models.hardware import choose_stage_settings


def test_hardware_cache_describes_this_machine():
    assert config.HARDWARE_CACHE_PATH.exists(), "written by ./bootstrap.sh (the README's set-up runs it)"
    hw = config.load_json(config.HARDWARE_CACHE_PATH)
    assert hw["platform"]["system"] == os.uname().sysname
    assert hw["platform"]["machine"] == os.uname().machine
    assert hw["cpu"]["count"] == len(os.sched_getaffinity(0))
    with open("/proc/meminfo") as meminfo:
        total_gb = int(meminfo.readline().split()[1]) / 2**20
    assert abs(hw["memory_gb"] - total_gb) < 0.2
    assert hw["cuda"]["available"] == bool(hw["cuda"]["devices"])
    if shutil.which("nvidia-smi") is None:
        assert hw["cuda"] == {"available": False, "driver": None, "devices": []}
        assert hw["accelerator"] == "cpu"
    assert hw["mps"]["available"] is False and hw["mlx"]["available"] is False  # Linux
    assert hw["cache"] == {"base_dir": ".cache", "torch_home": ".cache/torch",
                           "hf_home": ".cache/huggingface", "mlx_home": ".cache/mlx"}
    for stage in ("vad", "asr", "align", "translate"):
        assert hw["stages"][stage]["device"] in ("cpu", "cuda", "mlx")
        assert hw["stages"][stage]["threads"] >= 1
    asr = hw["stages"]["asr"]
    assert {"engine", "device", "compute_type", "batch_size", "model"} <= set(asr)
    if hw["accelerator"] == "cpu":
        assert asr["engine"] == "faster-whisper" and asr["compute_type"] == "int8"
        assert hw["venvs"] == ["common", "translate", "speakers"]


def _info(**over):
    info = {"cpu": {"count": 16}, "memory_gb": 64.0, "cuda": {"available": False, "devices": []},
            "mps": {"available": False}, "mlx": {"available": False}, "accelerator": "cpu"}
    info.update(over)
    return info


def test_cuda_workstation_gets_float16_large_model_on_the_gpu():
    gpu = {"index": 0, "name": "RTX 4090", "memory_gb": 24.0, "compute_capability": "8.9"}
    info = _info(cuda={"available": True, "devices": [gpu]}, accelerator="cuda")
    stages = choose_stage_settings(info)
    # WhisperX batched ASR and pyannote VAD on CUDA; both live in the whisperx venv
    assert {k: v for k, v in stages["asr"].items() if not k.endswith("why") and k not in ("tier", "routes")} == {
        "engine": "whisperx", "device": "cuda", "compute_type": "float16", "batch_size": 16, "model": "large-v3",
        "threads": 16, "workers": 1, "window_seconds": 30, "beam_size": 5}
    assert stages["asr"]["why"] and "batch 16" in stages["asr"]["tuning_why"]
    assert stages["translate"]["device"] == "cuda"
    assert stages["vad"]["engine"] == "pyannote" and "preferred_engine" not in stages["vad"]
    assert hardware.default_venvs(info) == ["common", "whisperx", "translate", "speakers"]


def test_small_gpu_gets_a_smaller_model_and_batch():
    gpu = {"index": 0, "name": "GTX 1660", "memory_gb": 6.0, "compute_capability": "7.5"}
    asr = choose_stage_settings(_info(cuda={"available": True, "devices": [gpu]}, accelerator="cuda"))["asr"]
    assert asr["model"] == "large-v3-turbo" and asr["batch_size"] == 4


def test_apple_silicon_gets_mlx():
    from shared.models import catalog

    info = _info(mps={"available": True}, mlx={"available": True}, accelerator="mps", memory_gb=16.0)
    asr = choose_stage_settings(info)["asr"]
    assert (asr["engine"], asr["device"], asr["model"], asr["compute_type"]) == ("mlx", "mlx", "large-v3-turbo", "float16")
    assert "preferred_engine" not in asr and asr["why"] and asr["tuning_why"]
    assert catalog.find(asr["model"], "asr", "mlx").repo == "mlx-community/whisper-large-v3-turbo"
    assert hardware.default_venvs(info) == ["common", "mlx", "translate", "speakers"]
    assert choose_stage_settings({**info, "memory_gb": 8.0})["asr"]["model"] == "small"


def test_every_cpu_machine_gets_an_embedded_model_so_a_fresh_one_needs_no_download():
    from shared.models import catalog

    for cpus, memory in ((2, 4.0), (2, 24.0), (4, 8.0), (16, 64.0), (64, 512.0)):
        asr = choose_stage_settings(_info(cpu={"count": cpus}, memory_gb=memory))["asr"]
        assert catalog.find(asr["model"], "asr").embedded_from, (cpus, memory, asr)
        assert asr["why"]


def test_cpu_batches_by_measurement_and_says_so():
    asr = choose_stage_settings(_info(cpu={"count": 2}, memory_gb=8.0))["asr"]
    assert (asr["batch_size"], asr["workers"], asr["window_seconds"], asr["beam_size"]) == (6, 2, 30, 5)
    assert "batch 1 took" in asr["tuning_why"] and "0.87 GB" in asr["tuning_why"]
    alone = choose_stage_settings(_info(cpu={"count": 1}, memory_gb=8.0))["asr"]
    assert (alone["batch_size"], alone["workers"]) == (8, 1)


def test_a_cpu_decodes_batches_side_by_side_on_a_thread_share_each():
    workers = lambda cpus: choose_stage_settings(_info(cpu={"count": cpus}, memory_gb=16.0))["asr"]["workers"]
    assert [workers(n) for n in (1, 2, 4, 8, 16)] == [1, 2, 2, 4, 4]
    assert "two on 1 thread each" in choose_stage_settings(_info(cpu={"count": 2}, memory_gb=8.0))["asr"]["tuning_why"]
    info = _info(mps={"available": True}, mlx={"available": True}, accelerator="mps", memory_gb=16.0)
    assert choose_stage_settings(info)["asr"]["workers"] == 1  # one MLX stream on the GPU


def test_translation_tier_follows_memory_and_device():
    def tier(**over):
        stages = choose_stage_settings(_info(**over))
        return stages["translate"]["tier"], stages["translate"]["routes"]["other"], stages["translate"]["routes"]["indic-en"]

    gpu = lambda gb: {"available": True, "devices": [{"index": 0, "name": "x", "memory_gb": gb, "compute_capability": "8.6"}]}
    assert tier(cuda=gpu(24.0), accelerator="cuda") == ("large", "nllb-200-3.3b", "indictrans2-indic-en-1b")
    assert tier(cuda=gpu(12.0), accelerator="cuda") == ("medium", "nllb-200-distilled-1.3b", "indictrans2-indic-en-1b")
    assert tier(cuda=gpu(6.0), accelerator="cuda")[0] == "small"
    assert tier(cpu={"count": 16}, memory_gb=64.0)[0] == "medium"
    assert tier(cpu={"count": 2}, memory_gb=24.0) == ("small", "nllb-200-distilled-600m", "indictrans2-indic-en-dist-200m")
    assert tier(cpu={"count": 16}, memory_gb=16.0)[0] == "small"


def test_job_overrides_and_thread_variable(monkeypatch):
    from shared.jobs import workflows

    hw = {"stages": {"asr": {"engine": "faster-whisper", "model": "base", "threads": 2}}}
    assert hardware.stage_settings("asr", hw)["engine"] == "faster-whisper"
    monkeypatch.setenv("SUBTITLER_THREADS", "1")
    assert hardware.stage_settings("asr", hw)["threads"] == 1
    job = {"overrides": {"asr": {"model": "tiny.en", "engine": None}}}
    merged = workflows.stage_settings(job, "asr")
    assert merged["model"] == "tiny.en" and merged["engine"] == hardware.load()["stages"]["asr"]["engine"]
    assert merged["coverage_ratio"] == config.pipeline_defaults()["asr"]["coverage_ratio"] and merged["threads"] == 1


def test_asr_routes_follow_the_device_and_every_route_is_a_tuned_model_of_its_language():
    from shared.models import catalog

    gpu = lambda gb: {"available": True, "devices": [{"index": 0, "name": "x", "memory_gb": gb, "compute_capability": "8.6"}]}
    cpu = choose_stage_settings(_info())["asr"]
    big = choose_stage_settings(_info(cuda=gpu(24.0), accelerator="cuda"))["asr"]
    small_gpu = choose_stage_settings(_info(cuda=gpu(4.0), accelerator="cuda"))["asr"]
    assert (cpu["tier"], big["tier"], small_gpu["tier"]) == ("small", "large", "small")
    assert "CPU" in cpu["routes_why"] and "24 GB" in big["routes_why"]
    indic = {"hi", "bn", "ta", "te", "mr", "gu", "kn", "ml"}
    for settings in (cpu, big):
        assert indic <= set(settings["routes"])
        for language, key in settings["routes"].items():
            model = catalog.find(key, "asr")
            assert model is not None and model.languages == (language,) and model.licence, key
            assert model.published and model.published["source"].startswith("https://huggingface.co/"), key
            assert model.convert or model.repo.split("/")[1].startswith("faster-whisper"), key
    # a CPU gets small fine-tunes (medium where no small one is published), a big GPU large-v2 ones
    assert {catalog.find(k, "asr").base for k in cpu["routes"].values()} <= {"small", "medium"}
    assert catalog.find(big["routes"]["hi"], "asr").base == "large-v2"
