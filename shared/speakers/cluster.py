"""The windows grouped into speakers.

First the pieces of speech between pauses (an utterance, mostly: one speaker) are grouped, each by
the mean of its windows' voices, by agglomerative clustering with average linkage on cosine distance
(scipy), as pyannote's own pipeline clusters its embeddings: two groups join while their voices are
nearer than same_voice_distance (GE2E on people: about 0.18 apart for one speaker's utterances, 0.46
for two people), or until the number the user asked for is left. Pieces, not windows, so a film's
thousands of windows cost an utterance-sized matrix. Then every window takes the speaker whose mean
voice is nearest, which finds a turn inside a piece with no pause in it; a window alone between two
of one other speaker, in the same piece, takes theirs; and with auto, a speaker heard for less than
min_speaker_seconds in all (a cough, a laugh, a noise) joins the nearest other, and so does one heard
for less than brief_speaker_share of all the speech, up to brief_speaker_seconds (on 30 minutes of
real readers, four seconds of one reader's phrase, six windows alike among themselves, had stood
apart as a fourth speaker; its mean voice was 0.72 from that reader's, as near as two different
voices' means are, so nearness could not tell it).

Spectral clustering with the eigen-gap (the encoder's authors' way, Google's spectralcluster) was
tried first: on dialogues of 10-20 pieces its row-wise thresholding leaves too few neighbours, and it
found two speakers for three voices, or one.
"""

from __future__ import annotations


def _normalised(vectors):
    import numpy as np

    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _centroids(embeddings, labels):
    import numpy as np

    found = sorted(set(int(x) for x in labels))
    return found, _normalised(np.stack([embeddings[labels == k].mean(axis=0) for k in found]))


def _nearest(embeddings, labels):
    """Each window to the speaker whose mean voice is nearest."""
    import numpy as np

    found, means = _centroids(embeddings, labels)
    return np.array(found)[np.argmax(embeddings @ means.T, axis=1)]


def _drop_brief(embeddings, labels, seconds_each: list[float], least: float):
    """A speaker heard for less than `least` seconds in all joins the nearest other speaker."""
    import numpy as np

    while len(set(labels.tolist())) > 1:
        totals = {k: sum(s for s, lab in zip(seconds_each, labels) if lab == k) for k in set(labels.tolist())}
        brief = min(totals, key=totals.get)
        if totals[brief] >= least:
            break
        found, means = _centroids(embeddings, labels)
        others = [k for k in found if k != brief]
        rows = labels == brief
        scores = embeddings[rows] @ np.stack([means[found.index(k)] for k in others]).T
        labels = labels.copy()
        labels[rows] = np.array(others)[np.argmax(scores, axis=1)]
    return labels


def _smooth(labels, pieces: list[int]):
    """A window alone between two windows of one other speaker, in the same piece, takes theirs."""
    out = labels.copy()
    for i in range(1, len(labels) - 1):
        if pieces[i - 1] == pieces[i] == pieces[i + 1] and labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out


def _group_pieces(vectors, count: int | None, distance: float):
    """A group number per piece: agglomerative, average linkage, cosine distance."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(vectors) == 1:
        return np.zeros(1, dtype=int)
    tree = linkage(vectors, method="average", metric="cosine")
    if count is not None:
        return fcluster(tree, t=count, criterion="maxclust") - 1
    return fcluster(tree, t=distance, criterion="distance") - 1


def speakers_of(embeddings, pieces: list[int], seconds_each: list[float], count: int | None, settings: dict):
    """A speaker number per window: exactly `count` speakers when given (fewer only where the speech
    has fewer pieces), else as many as the voices show."""
    import numpy as np

    n = len(embeddings)
    if n == 0 or count == 1:
        return np.zeros(n, dtype=int)
    order = sorted(set(pieces))
    index = {p: i for i, p in enumerate(order)}
    rows = np.array([index[p] for p in pieces])
    means = _normalised(np.stack([embeddings[rows == i].mean(axis=0) for i in range(len(order))]))
    groups = _group_pieces(means, count, float(settings["same_voice_distance"]))
    labels = groups[rows]
    if len(set(labels.tolist())) > 1:
        refined = _nearest(embeddings, labels)
        if count is None or len(set(refined.tolist())) == len(set(labels.tolist())):
            labels = refined
        labels = _smooth(labels, pieces)
    if count is None:
        least = max(float(settings["min_speaker_seconds"]),
                    min(float(settings["brief_speaker_seconds"]), float(settings["brief_speaker_share"]) * sum(seconds_each)))
        labels = _drop_brief(embeddings, labels, seconds_each, least)
    return labels
