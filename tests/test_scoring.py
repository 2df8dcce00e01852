"""The word error measure benchmarks judge transcripts by: its errors by kind."""

import random

from shared.core.scoring import error_counts, recall, word_error_rate, words


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


def test_recall_counts_the_content_words_heard_whatever_their_inflection():
    said = "She opened the window and listened to the birds outside."
    assert recall(said, said) == 1.0
    # the reading tiny.en gave on an AVX2 machine: opens, listens (inflections) and moon (a miss)
    assert recall(said, "She opens the window and listens to the moon outside.") == 0.8
    assert recall(said, "the and to the") == 0.0  # function words alone are nothing heard
    assert recall("Las escuelas permanecerán abiertas el lunes.", "las escuelas permanecerán abiertas") == 0.75
    assert recall("आज मौसम अच्छा है", "आज मौसम") == 0.5  # any script


def test_indic_normalisation_for_wer():
    from shared.core.scoring import normalized, scores

    # nukta, candrabindu as anusvara, danda and punctuation, case: the same words
    assert normalized("ज़िंदगी हँसती है। Hello, World!") == "जिंदगी हंसती है hello world"
    assert normalized("আমি বাঁশি বাজাই।") == normalized("আমি বাংশি বাজাই")  # Bengali candrabindu
    assert scores("मैं घर जा रहा हूँ।", "मैं घर जा रहा हूं")["word_errors"] == 0
    result = scores("मैं घर जा रहा हूँ", "मैं घर रहा")
    assert (result["words"], result["word_errors"], result["deleted"]) == (5, 2, 2)
    assert result["character_errors"] == len("जा") + len("हूं")
