"""Readability rules on English, Hindi, Tamil and Bengali text, counted in user-perceived characters."""

import pytest

from shared.subtitle_rules import Rules, build_cues, length

RULES = Rules.default()


def segments_from(text: str, start: float = 0.0, word_time: float = 0.3, lang: str = "hi"):
    words, t = [], start
    for token in text.split():
        words.append({"start": round(t, 3), "end": round(t + word_time - 0.05, 3), "word": " " + token,
                      "probability": 1.0})
        t += word_time
    return [{"id": 0, "start": start, "end": t, "text": text, "language": lang, "words": words}]


def check_rules(cues, rules=RULES):
    for i, cue in enumerate(cues):
        assert 1 <= len(cue.lines) <= rules.max_lines, cue
        for line in cue.lines:
            assert length(line) <= rules.max_chars_per_line, (line, length(line))
        assert cue.end - cue.start <= rules.max_duration + 1e-6
        assert cue.end > cue.start
        if i + 1 < len(cues):
            assert cues[i + 1].start - cue.end >= rules.min_gap - 1e-6


def test_grapheme_counts_indic_scripts_as_readers_do():
    assert length("नमस्ते") == 3
    assert length("தமிழ்") == 3
    assert length("বাংলা") == 2
    assert length("hello") == 5


HINDI = ("आज सुबह से ही शहर में तेज़ बारिश हो रही है, और मौसम विभाग ने पूरे दिन के लिए चेतावनी जारी की है। "
         "लोगों से अनुरोध किया गया है कि वे घर पर ही रहें।")
TAMIL = ("இன்று காலை முதல் நகரத்தில் கனமழை பெய்து வருகிறது, வானிலை ஆய்வு மையம் நாள் முழுவதும் "
         "எச்சரிக்கை விடுத்துள்ளது. மக்கள் வீட்டிலேயே இருக்குமாறு கேட்டுக்கொள்ளப்பட்டுள்ளனர்.")
BENGALI = ("আজ সকাল থেকে শহরে প্রবল বৃষ্টি হচ্ছে, এবং আবহাওয়া দপ্তর সারা দিনের জন্য সতর্কতা জারি করেছে। "
           "সবাইকে বাড়িতে থাকার অনুরোধ করা হয়েছে।")


@pytest.mark.parametrize("text,lang", [(HINDI, "hi"), (TAMIL, "ta"), (BENGALI, "bn")])
def test_indic_text_obeys_the_rules(text, lang):
    cues = build_cues(segments_from(text, lang=lang), RULES)
    check_rules(cues)
    assert " ".join(" ".join(c.lines) for c in cues).split() == text.split()  # nothing lost or reordered
    # a sentence end (danda or full stop) closes its cue
    assert any(c.lines[-1].endswith(("।", ".")) for c in cues[:-1])


def test_long_sentence_is_split_at_word_times_after_punctuation():
    text = ("The committee met on Tuesday, discussed the budget for the coming year at great length, "
            "and finally agreed to postpone the decision until the next meeting in March")
    cues = build_cues(segments_from(text, lang="en"), RULES)
    check_rules(cues)
    assert len(cues) >= 2
    assert cues[0].lines[-1].endswith(",")
    first_cue_words = len(" ".join(cues[0].lines).split())
    assert cues[1].start == pytest.approx(0.3 * first_cue_words)  # the next word's own start time


def test_short_cue_is_held_for_the_minimum_and_reading_speed():
    segs = segments_from("Yes.", lang="en") + segments_from("Right away, everyone.", start=5.0, lang="en")
    cues = build_cues(segs, RULES)
    assert cues[0].end - cues[0].start >= RULES.min_duration - 1e-6
    long = cues[1]
    assert long.end - long.start >= length(" ".join(long.lines)) / RULES.max_cps - 1e-6


def test_rules_are_configurable():
    rules = Rules.default(max_chars_per_line=20, max_lines=1, max_duration=3.0)
    cues = build_cues(segments_from(HINDI), rules)
    check_rules(cues, rules)
    assert all(len(c.lines) == 1 for c in cues)


def test_close_cues_keep_the_minimum_gap():
    segs = segments_from("One.", lang="en", word_time=0.2) + segments_from("Two.", start=0.22, lang="en")
    check_rules(build_cues(segs, RULES))
