"""Models: which exist, where they are cached, and which one this machine uses.

catalog (config/models.json: every model, pinned, with its files, size and licence; where a model
lives in the cache), hub_cache (the Hugging Face hub's cache layout, written and read without
huggingface_hub so bootstrap can use it before any venv), cache (fetch, verify, export, import,
prune), ct2_convert and mlx_convert (the converters to CTranslate2 and MLX), and hardware (what the
machine is, and the hardware table: device, compute type, batch size and model per stage, and why),
and asr_routes (the Whisper model that hears a language: its Indic-tuned route where cached).

May import: shared.core, and shared.environment_manager (a conversion runs in the venv that holds
its converter).
"""
