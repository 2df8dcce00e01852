"""Beam search for MLX-Whisper (mlx venv), which decodes greedily only.

The search faster-whisper runs through CTranslate2: beam_size hypotheses per window; at each step
every hypothesis is extended by its best tokens, and the beam_size best continuations (by summed
log-probability) go on; one that ends (end of text) is set aside as a candidate, until a window has
round(beam_size * patience) candidates or runs out of room; the candidate with the best score,
its summed log-probability over its length ** length_penalty, wins. MLX-Whisper's own pieces serve
it: its decoding task for the prompt, the logit filters (blank and token suppression, timestamp
rules) and its key-value cache, whose rows follow the surviving hypotheses.
"""

from __future__ import annotations


def audio_features(model, mel, fp16: bool):
    """The encoder's output for mel frames fewer than Whisper's 30 s (windows, frames, mels): the
    layers of MLX-Whisper's AudioEncoder, which asserts the whole window, run on the frames given, with
    as many rows of its positional embedding as they make (the convolutions halve the frames). On the
    whole window the result is the AudioEncoder's own."""
    import mlx.core as mx
    import mlx.nn as nn

    encoder = model.encoder
    x = mel.astype(mx.float16) if fp16 else mel
    x = nn.gelu(encoder.conv2(nn.gelu(encoder.conv1(x))))
    x = x + encoder._positional_embedding[: x.shape[1]]
    for block in encoder.blocks:
        x, _, _ = block(x)
    return encoder.ln_post(x)


def decode(model, mel, options, beam_size: int, patience: float = 1.0, length_penalty: float = 1.0) -> list:
    """MLX-Whisper's DecodingResult for each window of `mel` (n_windows, frames, mels), by beam search
    (beam_size 1: its own greedy decoder, which needs the whole 3000 frames); fewer frames than the
    whole window are encoded by audio_features."""
    import mlx.core as mx
    import numpy as np
    from mlx_whisper.decoding import DecodingResult, DecodingTask, compression_ratio
    from mlx_whisper.decoding import decode as greedy

    if beam_size <= 1:
        return greedy(model, mel, options)
    task = DecodingTask(model, options)  # greedy options: its prompt, filters and cache are what we use
    tokenizer, eot = task.tokenizer, task.tokenizer.eot
    wanted = max(1, round(beam_size * patience))
    task.inference.reset()
    features = audio_features(model, mel, options.fp16) if mel.shape[1] < 2 * model.dims.n_audio_ctx \
        else task._get_audio_features(mel)
    n_audio = features.shape[0]
    initial = list(task.initial_tokens)
    begin = len(initial)
    repeated = mx.repeat(features, beam_size, axis=0)  # a row of encoder output per hypothesis

    tokens = [list(initial) for _ in range(n_audio * beam_size)]
    scores = np.zeros(n_audio * beam_size)
    scores.reshape(n_audio, beam_size)[:, 1:] = -np.inf  # at first, one live hypothesis per window
    finished: list[dict[tuple, float]] = [{} for _ in range(n_audio)]
    no_speech = None
    step_input = mx.array(tokens)
    for _ in range(task.sample_len):
        if len(tokens[0]) > task.n_ctx:
            break
        pre_logits = task.inference.logits(step_input, repeated)
        if no_speech is None:
            if tokenizer.no_speech is not None:
                at_sot = mx.softmax(pre_logits[::beam_size, task.sot_index].astype(mx.float32), axis=-1)
                no_speech = np.array(at_sot[:, tokenizer.no_speech]).tolist()
            else:
                no_speech = [float("nan")] * n_audio
        logits = pre_logits[:, -1]
        context = mx.array(tokens)
        for rule in task.logit_filters:
            logits = rule.apply(logits, context)
        logprobs = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
        sources, extended, kept_scores = [], [], []
        for window in range(n_audio):
            if len(finished[window]) >= wanted:  # done: its rows carry on unchanged, never read
                for row in range(window * beam_size, (window + 1) * beam_size):
                    sources.append(row)
                    extended.append(tokens[row] + [eot])
                    kept_scores.append(scores[row])
                continue
            choices = []
            for row in range(window * beam_size, (window + 1) * beam_size):
                if not np.isfinite(scores[row]):
                    continue
                best = np.argpartition(-logprobs[row], beam_size)[:beam_size + 1]
                choices += [(scores[row] + logprobs[row, t], row, int(t)) for t in best]
            choices.sort(key=lambda o: -o[0])
            live = []
            for score, row, token in choices:
                if token == eot:
                    if len(finished[window]) < wanted:
                        sequence = tuple(tokens[row][begin:])
                        finished[window].setdefault(sequence, score)
                    continue
                live.append((score, row, token))
                if len(live) == beam_size:
                    break
            while len(live) < beam_size:  # fewer continuations than beams: an empty row
                live.append((-np.inf, live[0][1] if live else window * beam_size, eot))
            for score, row, token in live:
                sources.append(row)
                extended.append(tokens[row] + [token])
                kept_scores.append(score)
        if all(len(f) >= wanted for f in finished):
            break
        task.inference.rearrange_kv_cache(sources)
        tokens, scores = extended, np.array(kept_scores)
        step_input = mx.array([[t[-1]] for t in tokens])

    results = []
    for window in range(n_audio):
        candidates = dict(finished[window])
        if len(candidates) < wanted:  # out of room: the live hypotheses count as they are
            for row in range(window * beam_size, (window + 1) * beam_size):
                if np.isfinite(scores[row]):
                    sequence = tuple(t for t in tokens[row][begin:] if t != eot)
                    candidates.setdefault(sequence, scores[row])
        sequence, total = max(candidates.items(), key=lambda c: c[1] / max(len(c[0]), 1) ** length_penalty)
        text = tokenizer.decode(list(sequence)).strip()
        results.append(DecodingResult(audio_features=features[window], language=options.language or "en",
                                      tokens=list(sequence), text=text, avg_logprob=total / (len(sequence) + 1),
                                      no_speech_prob=no_speech[window], temperature=0.0,
                                      compression_ratio=compression_ratio(text)))
    return results
