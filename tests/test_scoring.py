"""The word error measure benchmarks judge transcripts by: its errors by kind."""

import random

from shared.core.scoring import error_counts, word_error_rate, words


def test_each_kind_of_error_is_counted():
    spoken = "the river runs slowly through the night"
    assert error_counts(spoken, spoken) == {"substituted": 0, "deleted": 0, "inserted": 0}
    assert error_counts(spoken, "the river runs through the night") == {"substituted": 0, "deleted": 1, "inserted": 0}
    assert error_counts(spoken, "The river, runs slowly through the night tonight!") == {
        "substituted": 0, "deleted": 0, "inserted": 1}
    assert error_counts(spoken, "the river owns slowly fruit the night") == {"substituted": 2, "deleted": 0, "inserted": 0}
    assert error_counts(spoken, "") == {"substituted": 0, "deleted": 7, "inserted": 0}
    assert error_counts("", "a phantom") == {"substituted": 0, "deleted": 0, "inserted": 2}


def test_the_errors_add_up_to_the_word_error_rate():
    rng = random.Random(3)
    vocabulary = "a b c d e f".split()
    for _ in range(200):
        reference = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12)))
        hypothesis = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12)))
        counts = error_counts(reference, hypothesis)
        assert sum(counts.values()) == round(word_error_rate(reference, hypothesis) * max(1, len(words(reference))))
        # the hypothesis has the reference's words, less the deleted, plus the inserted
        assert len(words(hypothesis)) == len(words(reference)) - counts["deleted"] + counts["inserted"]
