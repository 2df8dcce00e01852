"""Readability rules on English, Hindi, Tamil and Bengali text, counted in user-perceived characters."""

import pytest

from shared.subtitles.rules import Rules, build_cues, compliance, length

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
    cues = build_cues(segments_from(text, lang=lang), RULES, lang)
    check_rules(cues)
    assert compliance(cues, RULES)["violations"] == 0
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


# -- text-aware segmentation and line breaks (issue 12, parts 1-2) -------------------------------------

def words_of(cues):
    return [" ".join(c.lines).split() for c in cues]


def test_no_cue_ends_after_an_abbreviation_or_an_initial():
    text = ("And Mr. John Dashwood had the whole of it. Then Dr. Smith and J. R. Brown met at St. Mary's "
            "church at 10.30 p.m. on Friday. The rate rose to 3.5 percent, e.g. in the U.S. market, last year.")
    cues = build_cues(segments_from(text, lang="en"), RULES, "en")
    check_rules(cues)
    ends = [c.lines[-1].split()[-1] for c in cues]
    assert not set(ends) & {"Mr.", "Dr.", "J.", "R.", "St.", "e.g.", "U.S."}, ends
    assert " ".join(w for ws in words_of(cues) for w in ws) == text


def test_hindi_honorifics_end_no_sentence_and_danda_does():
    text = "डॉ. शर्मा ने कहा कि श्री. वर्मा कल आएंगे। वे सुबह दस बजे पहुंचेंगे॥ फिर बैठक होगी।"
    cues = build_cues(segments_from(text, lang="hi"), RULES, "hi")
    ends = [c.lines[-1].split()[-1] for c in cues]
    assert "डॉ." not in ends and "श्री." not in ends
    assert all(e.endswith(("।", "॥")) for e in ends), ends


def test_an_ellipsis_ends_a_sentence_only_before_a_capital():
    from shared.subtitles.rules import TextRules, group, units_from_segments

    units = units_from_segments(segments_from("I was thinking... maybe not today. Wait... Then he left.", lang="en"))
    groups = group(units, RULES, TextRules.of("en"))
    assert [g[-1].text.strip() for g in groups] == ["today.", "Wait...", "left."]


ENGLISH = ("When the old man finally reached the top of the hill he looked back at the village and the river "
           "that ran through the valley of his childhood. The neighbours had gathered in the square with "
           "their children and the dogs of the farm to watch the procession of the lanterns. Elizabeth Bennet "
           "walked slowly towards Netherfield Park with a letter from her sister in her hand and a question "
           "for the master of the house about the future of the estate.")
WEAK = {"the", "a", "an", "of", "to", "in", "and", "with", "for", "from", "at", "that", "his", "her", "their"}


@pytest.mark.parametrize("rules", [RULES, Rules.default(max_chars_per_line=32), Rules.default(max_chars_per_line=24)])
def test_no_line_or_cue_ends_on_an_article_preposition_or_conjunction(rules):
    cues = build_cues(segments_from(ENGLISH, lang="en"), rules, "en")
    check_rules(cues, rules)
    for cue in cues:
        for line in cue.lines:
            assert line.split()[-1].lower() not in WEAK, (cue.lines, line)
    lines = [line for c in cues for line in c.lines]
    assert not any(a.endswith("Elizabeth") and b.startswith("Bennet") for a, b in zip(lines, lines[1:]))
    assert " ".join(lines).split() == ENGLISH.split()


POSTPOSITIONS = {"का", "की", "के", "में", "से", "को", "ने", "पर", "तक"}
HINDI_LONG = ("राम के बड़े भाई ने कल शाम बाज़ार से सब्ज़ियाँ और फल ख़रीदे और घर आकर अपनी माँ को दिए। "
              "गाँव के लोगों ने नदी के किनारे पर एक बड़े मेले का आयोजन किया जिसमें दूर दूर से लोग आए। "
              "बच्चों ने मेले में झूलों पर बैठकर बहुत मज़ा किया और शाम तक वहीं रहे।")


@pytest.mark.parametrize("width", [42, 30, 22])
def test_no_hindi_line_starts_with_a_postposition(width):
    rules = Rules.default(max_chars_per_line=width)
    cues = build_cues(segments_from(HINDI_LONG, lang="hi"), rules, "hi")
    check_rules(cues, rules)
    for cue in cues:
        for line in cue.lines:
            assert line.split()[0] not in POSTPOSITIONS, (cue.lines, line)
    assert " ".join(w for ws in words_of(cues) for w in ws) == HINDI_LONG


def test_two_lines_lean_bottom_heavy_when_balance_is_close():
    cues = build_cues(segments_from("She told me the story of the lighthouse keeper yesterday", lang="en"), RULES, "en")
    assert len(cues) == 1 and len(cues[0].lines) == 2
    first, second = cues[0].lines
    assert length(first) <= length(second), cues[0].lines


def test_a_short_cue_is_merged_or_given_room_never_left_short():
    """"Yes." said quickly, straight before a sentence: too short to read, no silence after it."""
    segs = segments_from("Yes.", lang="en", word_time=0.3) + segments_from(
        "Right away, and bring the keys to the car with you.", start=0.35, lang="en")
    cues = build_cues(segs, RULES, "en")
    check_rules(cues)
    assert all(c.end - c.start >= RULES.min_duration - 1e-6 for c in cues), cues
    assert compliance(cues, RULES)["short_cues"] == [] and compliance(cues, RULES)["violations"] == 0
    assert cues[0].lines[0].startswith("Yes.")


def test_a_cue_nothing_can_save_is_reported():
    rules = Rules.default(max_chars_per_line=12, max_lines=1)
    segs = (segments_from("Stop.", lang="en", word_time=0.2) + segments_from("Everybody listen.", start=0.25, lang="en")
            + segments_from("Now!", start=1.2, lang="en", word_time=0.2) + segments_from("Go home quickly.", start=1.45, lang="en"))
    cues = build_cues(segs, rules, "en")
    short = [c for c in cues if c.end - c.start < rules.min_duration - 1e-6]
    report = compliance(cues, rules)
    assert short and [s["text"] for s in report["short_cues"]] == [c.text for c in short]
    assert report["violations"] == len(short)


def test_a_language_may_have_its_own_limits():
    from shared.core import config

    settings = {**config.pipeline_defaults()["subtitles"], "languages": {"hi": {"max_cps": 12.0, "max_chars_per_line": 30}}}
    assert Rules.from_settings(settings, "hi").max_cps == 12.0 and Rules.from_settings(settings, "hi").max_chars_per_line == 30
    assert Rules.from_settings(settings, "en") == Rules.default()
    cues = build_cues(segments_from(HINDI), Rules.from_settings(settings, "hi"), "hi")
    assert all(length(line) <= 30 for c in cues for line in c.lines)


def test_each_cue_is_flagged_for_what_compliance_counts_and_for_a_reviewer():
    """cue_flags (review.html's flags) names, cue by cue, what compliance() counts, from the same
    checks; and the words the recogniser was unsure of, and where the speaker changes."""
    from shared.subtitles.rules import Cue, Unit, cue_flags

    rules = Rules.default()
    cues = [Cue(0.0, 0.5, ["Too short."], ["Speaker 1"], [Unit(0.0, 0.5, " Too", "Speaker 1", 0.9)]),
            Cue(1.0, 2.0, ["This line reads far too fast for one second"], ["Speaker 1"],
                [Unit(1.0, 2.0, " This", "Speaker 1", 0.31)]),
            Cue(3.0, 11.0, ["x" * 50, "a", "b"], ["Speaker 2"]),
            Cue(12.0, 14.0, ["- Yes.", "- No."], ["Speaker 2", "Speaker 1"]),
            Cue(20.0, 22.0, ["Across a cut."], [])]
    changes, fps = [20.08], 25.0
    flags = cue_flags(cues, rules, changes, fps)
    kinds = [[f["kind"] for f in found] for found in flags]
    assert kinds[0] == ["reading_speed", "short"]
    assert kinds[1] == ["reading_speed", "line_length", "low_confidence"] and "This (0.31)" in flags[1][2]["detail"]
    assert kinds[2] == ["long", "line_length", "lines", "speaker_change"]
    assert kinds[3] == ["speaker_change"] and flags[3][0]["detail"] == "two speakers: Speaker 2, then Speaker 1"
    assert kinds[4] == ["shot_change"] and "2 frames" in flags[4][0]["detail"]
    report = compliance(cues, rules, changes, fps)
    count = lambda kind: sum(kind in k for k in kinds)  # noqa: E731
    assert report["cues_over_cps"] == count("reading_speed")
    assert len(report["short_cues"]) == count("short") and report["cues_over_duration"] == count("long")
    assert report["cues_over_lines"] == count("lines") and report["shot_change_crossings"] == count("shot_change")
    assert report["lines_over_limit"] == 2  # a count of lines: cue 2 has one, cue 3 one
