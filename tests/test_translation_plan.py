"""Routing and sentence joining: which model serves a pair, and what text reaches it."""

import pytest

from shared.core.errors import UserError
from shared.translation import plan


@pytest.mark.parametrize("source,target,cls", [
    ("hi", "en", "indic-en"),
    ("en", "ta", "en-indic"),
    ("bn", "ta", "indic-indic"),
    ("ks-Deva", "en", "indic-en"),
    ("fr", "en", "other"),
    ("hi", "fr", "other"),
])
def test_routing_table(source, target, cls):
    """Each pair goes to its route class, served by the model of this machine's tier."""
    assert plan.route_class(source, target) == cls
    key = plan.route(source, target).key
    assert key == plan.routes()[cls]
    assert ("nllb" in key) == (cls == "other") and ("indictrans2" in key) == (cls != "other")


@pytest.mark.parametrize("tier,expected", [
    ("large", {"indic-en": "indictrans2-indic-en-1b", "other": "nllb-200-3.3b"}),
    ("small", {"en-indic": "indictrans2-en-indic-dist-200m", "indic-indic": "indictrans2-indic-indic-dist-320m",
               "other": "nllb-200-distilled-600m"}),
])
def test_routes_follow_the_tier_hardware_cache_records(tier, expected):
    from shared.models import catalog

    hw = {"stages": {"translate": {"routes": catalog.translation_tiers()[tier]}}}
    assert expected.items() <= plan.routes(hw).items()


def test_job_override_and_its_limits():
    assert plan.route("hi", "en", "nllb-200-distilled-600m").key == "nllb-200-distilled-600m"
    with pytest.raises(UserError, match="only between English and the Indic languages"):
        plan.route("fr", "de", "indictrans2-indic-en-1b")
    with pytest.raises(UserError, match="unknown translation model"):
        plan.route("hi", "en", "whisper-base")


def words(*items):
    return [{"start": s, "end": e, "word": w, "probability": 1.0} for s, e, w in items]


def test_fragments_are_joined_into_sentences_with_their_times():
    segments = [
        {"start": 0.0, "end": 1.0, "text": "The river rose", "words": words((0.0, 0.3, " The"), (0.3, 0.6, " river"), (0.6, 1.0, " rose"))},
        {"start": 1.1, "end": 2.0, "text": "through the night.", "words": words((1.1, 1.4, " through"), (1.4, 1.6, " the"), (1.6, 2.0, " night."))},
        {"start": 2.2, "end": 3.0, "text": "आज मौसम अच्छा है।", "words": words((2.2, 2.5, " आज"), (2.5, 2.7, " मौसम"), (2.7, 2.9, " अच्छा"), (2.9, 3.0, " है।"))},
        {"start": 6.0, "end": 7.0, "text": "no stop here", "words": words((6.0, 6.5, " no"), (6.5, 6.8, " stop"), (6.8, 7.0, " here"))},
    ]
    result = plan.sentences(segments)
    assert [(s.text, s.start, s.end) for s in result] == [
        ("The river rose through the night.", 0.0, 2.0),
        ("आज मौसम अच्छा है।", 2.2, 3.0),
        ("no stop here", 6.0, 7.0),
    ]


def test_long_pause_ends_a_sentence_without_punctuation():
    segments = [{"start": 0, "end": 5, "text": "a b", "words": words((0.0, 0.5, " a"), (3.0, 3.5, " b"))}]
    assert [s.text for s in plan.sentences(segments)] == ["a", "b"]


def test_a_sentence_ends_where_the_subtitle_rules_say_it_does():
    """One answer to "does a sentence end here?": an abbreviation or an initial ends no sentence sent
    to a translator, as it ends no cue (config/subtitle_languages.json)."""
    segments = [{"start": 0.0, "end": 3.0, "text": "", "words": words(
        (0.0, 0.3, " Dr."), (0.3, 0.6, " Sharma"), (0.6, 0.9, " met"), (0.9, 1.2, " J."), (1.2, 1.5, " Rao."),
        (1.6, 2.0, " They"), (2.0, 3.0, " left."))},
                {"start": 3.2, "end": 4.0, "text": "", "words": words(
        (3.2, 3.5, " डॉ."), (3.5, 3.7, " शर्मा"), (3.7, 4.0, " आए।"))}]
    assert [s.text for s in plan.sentences(segments[:1], "en")] == ["Dr. Sharma met J. Rao.", "They left."]
    assert [s.text for s in plan.sentences(segments[1:], "hi")] == ["डॉ. शर्मा आए।"]


@pytest.mark.parametrize("language,cues,expected", [
    ("en", ["I saw Mr.", "Smith at the station.", "Then J.", "R. Rao came in."],
     ["I saw Mr. Smith at the station.", "Then J. R. Rao came in."]),
    ("hi", ["कल मैं डॉ.", "शर्मा से मिला।", "श्री.", "वर्मा भी थे।"], ["कल मैं डॉ. शर्मा से मिला।", "श्री. वर्मा भी थे।"]),
    ("ta", ["நான் திரு.", "ராஜாவைப் பார்த்தேன்."], ["நான் திரு. ராஜாவைப் பார்த்தேன்."]),
    ("en", ["Wait...", "what?", "Fine. Go.", "Now."], ["Wait... what?", "Fine. Go.", "Now."]),
])
def test_a_subs_job_joins_cues_where_the_subtitle_rules_see_no_sentence_end(language, cues, expected):
    """A user's cues carry no word times: a cue's text is one piece, and its last word decides whether
    a sentence ends there, by the same rules as for cues (an honorific or an initial alone is no sentence
    to translate out of context)."""
    segments = [{"start": float(i), "end": i + 0.9, "text": text, "words": []} for i, text in enumerate(cues)]
    found = plan.sentences(segments, language)
    assert [s.text for s in found] == expected
    from shared.subtitles.rules import TextRules

    rules = TextRules.of(language)
    assert [rules.ends_sentence(c, n) for c, n in zip(cues, cues[1:] + [None])] == \
        [plan_end for plan_end in _ends(cues, expected)]


def _ends(cues, sentences):
    """Where each cue closes a sentence, read off the expected sentences."""
    out, joined = [], ""
    for cue in cues:
        joined = f"{joined} {cue}".strip()
        done = joined in sentences
        out.append(done)
        if done:
            joined = ""
    return out
