"""Word error rate, the one measure tests and benchmarks judge transcripts by, and recall of content
words, for a test that asks only whether a sentence came back.

Words are lower-cased runs of letters, digits and apostrophes, so punctuation and case do not count;
the distance is Levenshtein's over words, divided by the reference's length. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


# Words that carry no content of their own: a test that asks "was this sentence heard?" counts the others.
FUNCTION_WORDS = frozenset("""a an and are as at be by for from had has have he her his i in is it its of on or
our she so that the their them they this to was we were will with you el la las los y de en del un una""".split())


def content_words(text: str) -> list[str]:
    """The words of a text that are not function words: lower-cased, split at spaces, punctuation
    stripped from their ends (so a Devanagari vowel sign stays inside its word, in any script)."""
    out = []
    for token in text.lower().split():
        start, end = 0, len(token)
        while start < end and unicodedata.category(token[start])[0] in "PS":
            start += 1
        while end > start and unicodedata.category(token[end - 1])[0] in "PS":
            end -= 1
        if start < end and token[start:end] not in FUNCTION_WORDS:
            out.append(token[start:end])
    return out


def stem(word: str) -> str:
    """A word less its commonest inflection ('s, -ing, -ed, -es, -s), so that "listens" and "listened"
    meet at "listen"; crude on purpose, and applied to both sides alike."""
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[:-len(suffix)]
    return word


def recall(reference: str, hypothesis: str) -> float:
    """The share of the reference's distinct content words that the hypothesis holds, an inflection
    read differently counting as heard: how much of what was said came back, whatever reading a
    model gives on a given CPU (int8 kernels differ between AVX2, AVX-512 and AMX, and with them a
    word now and then: "listens" for "listened")."""
    said = {stem(w) for w in content_words(reference)}
    heard = {stem(w) for w in content_words(hypothesis)}
    return len(said & heard) / max(1, len(said))


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def error_counts(reference: str, hypothesis: str) -> dict:
    """The word errors of the cheapest alignment, by kind: substituted, deleted (spoken words the
    hypothesis lacks: speech dropped) and inserted; their sum is word_error_rate's distance."""
    return edits(words(reference), words(hypothesis))


def edits(ref: list, hyp: list) -> dict:
    """The cheapest alignment of two token lists, its errors by kind."""
    # each cell: (distance, substituted, deleted, inserted); ties go to substitution, then deletion
    row = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], (i, 0, i, 0)
        for j, h in enumerate(hyp, 1):
            diagonal = prev if r == h else (prev[0] + 1, prev[1] + 1, prev[2], prev[3])
            up, left = row[j], row[j - 1]
            prev, row[j] = row[j], min(diagonal, (up[0] + 1, up[1], up[2] + 1, up[3]),
                                       (left[0] + 1, left[1], left[2], left[3] + 1), key=lambda c: c[0])
    return {"substituted": row[-1][1], "deleted": row[-1][2], "inserted": row[-1][3]}


def normalized(text: str) -> str:
    """A transcript as WER on Indian languages is scored: Unicode NFC, lower case, a nukta dropped
    (ज़ as ज), a candrabindu read as the anusvara of its script (हँस as हंस), the danda and every other
    punctuation mark or symbol gone, spaces collapsed. By character name, so every Brahmic script is
    treated alike."""
    out = []
    for char in unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).lower()):
        name = unicodedata.name(char, "")
        if name.endswith("SIGN NUKTA"):
            continue
        if name.endswith("SIGN CANDRABINDU"):
            try:
                char = unicodedata.lookup(name.replace("CANDRABINDU", "ANUSVARA"))
            except KeyError:
                pass
        out.append(" " if unicodedata.category(char)[0] in "PSZ" else char)
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def scores(reference: str, hypothesis: str) -> dict:
    """WER and CER after normalized(), with the words deleted and the reference's size."""
    ref, hyp = normalized(reference), normalized(hypothesis)
    by_word = edits(ref.split(), hyp.split())
    by_char = edits(list(ref.replace(" ", "")), list(hyp.replace(" ", "")))
    return {"words": len(ref.split()), "characters": len(ref.replace(" ", "")),
            "word_errors": sum(by_word.values()), "character_errors": sum(by_char.values()),
            "deleted": by_word["deleted"]}
