"""Speech recognition inside the asr stage (stages/asr.py reads the job and writes transcript.json).

windows (the VAD's regions packed into what Whisper hears at a time), decoding (batches of windows
decoded side by side, the language heard in the speech), coverage (what the batched decoder
skipped, found and decoded again, and recorded), script_check (a segment written in a script
its language is not, decoded again prompted in the right one), guard (text where nobody speaks, dropped with its
reason), and one module per engine: engine_faster_whisper, engine_mlx (with mlx_beam, the beam search
MLX-Whisper lacks), engine_whisperx. Every
engine returns the same segments, so the stage and everything after it never know which one ran.
An engine's own library (faster_whisper, mlx_whisper, whisperx, numpy) is imported inside the
functions that need it: each lives in its own venv.

May import: shared.core, shared.models.
"""
