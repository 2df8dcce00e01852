"""The script check and transliterated subtitles (issue 25, parts 2 and 4).

The script check is judged on real text in each script: Article 1 of the Universal Declaration of
Human Rights as the UN publishes it in Hindi, Urdu, Tamil, Telugu and Bengali, and the sentences of
the Hindi fixtures. Romanization is judged on real Hindi sentences against the forms a reader of
romanized Hindi writes (schwa dropped, no diacritics), and end to end: a Devanagari hi.srt to
hi-Latn on a machine with no model in its cache.
"""

import subprocess

import pytest
import srt

from conftest import REPO, clean_env
from shared.core import languages, scripts
from shared.core.errors import UserError
from shared.translation import romanize

UDHR_1 = {
    "hi": "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है। उन्हें बुद्धि और "
          "अन्तरात्मा की देन प्राप्त है और परस्पर उन्हें भाईचारे के भाव से बर्ताव करना चाहिये।",
    "ur": "تمام انسان آزاد اور حقوق و عزت کے اعتبار سے برابر پیدا ہوئے ہیں۔ انہیں ضمیر اور عقل ودیعت ہوئی ہے۔ "
          "اس لیے انہیں ایک دوسرے کے ساتھ بھائی چارے کا سلوک کرنا چاہیئے۔",
    "ta": "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்; அவர்கள் மதிப்பிலும், உரிமைகளிலும் சமமானவர்கள். "
          "அவர்கள் நியாயத்தையும் மனசாட்சியையும் இயற்பண்பாகப் பெற்றவர்கள்.",
    "te": "ప్రతిపత్తిస్వత్వముల విషయమున మానవులెల్లరును జన్మతః స్వతంత్రులును సమానులును నగుదురు. వారు "
          "వివేకము, అంతఃకరణము, సంపన్నులగుటచే పరస్పరము భ్రాతృభావముతో వర్తింపవలయును.",
    "bn": "সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে। তাঁদের বিবেক এবং বুদ্ধি আছে; "
          "সুতরাং সকলেরই একে অপরের প্রতি ভ্রাতৃত্বসুলভ মনোভাব নিয়ে আচরণ করা উচিত।",
}
ENGLISH = "All human beings are born free and equal in dignity and rights."


@pytest.mark.parametrize("language", sorted(UDHR_1))
def test_each_language_in_its_own_script_passes(language):
    assert scripts.wrong_script(UDHR_1[language], language) is None
    assert scripts.dominant(UDHR_1[language]) == scripts.expected(language)[0]


@pytest.mark.parametrize("language,text,found", [
    ("hi", UDHR_1["ur"], "Arab"),     # Hindi written in Urdu script
    ("hi", ENGLISH, "Latn"),          # or romanized
    ("ta", UDHR_1["te"], "Telu"),     # Tamil transcribed in Telugu script
    ("hi", "ഞാൻ വീട്ടിലേക്ക് പോകുന്നു", "Mlym"),  # Malayalam from Hindi audio
    ("bn", UDHR_1["hi"], "Deva"),
    ("ur", UDHR_1["hi"], "Deva"),
    ("en", UDHR_1["ta"], "Taml"),
])
def test_a_text_in_another_script_is_caught_and_named(language, text, found):
    assert scripts.wrong_script(text, language) == found


def test_code_mixing_digits_and_short_texts_are_not_wrong():
    # Hindi with English words in it (code-mixing) is still Hindi
    assert scripts.wrong_script("मैंने कल नया phone खरीदा और वह बहुत अच्छा है।", "hi") is None
    assert scripts.wrong_script("2024 ... !!", "hi") is None       # no letters
    assert scripts.wrong_script("OK", "hi") is None                # too short to say
    # a language written in two scripts accepts both, and a script subtag only its own
    assert scripts.wrong_script(UDHR_1["ur"], "sd") is None
    assert scripts.wrong_script(UDHR_1["hi"], "sd") is None
    assert scripts.wrong_script(UDHR_1["hi"], "sd-Arab") == "Deva"
    # a language Whisper detects that the table does not hold is not judged
    assert scripts.wrong_script(UDHR_1["hi"], "haw") is None and scripts.expected("haw") == ()
    # a Devanagari vowel sign is a mark of its script, not a letter of none
    assert scripts.letters_by_script("मौसम") == {"Deva": 4}


def test_writing_systems_of_several_scripts():
    assert scripts.wrong_script("私は東京に住んでいます。", "ja") is None       # kanji and hiragana
    assert scripts.wrong_script("我住在北京，每天早上喝茶。", "zh") is None
    assert scripts.wrong_script("我住在北京，每天早上喝茶。", "ko") is None      # Hanja is Korean too
    assert scripts.wrong_script("Ich wohne in Berlin.", "ja") == "Latn"


def test_the_script_settles_hindi_against_urdu():
    assert scripts.settle("ur", [UDHR_1["hi"]]) == "hi"
    assert scripts.settle("hi", [UDHR_1["ur"]]) == "ur"
    assert scripts.settle("hi", [UDHR_1["hi"]]) == "hi"
    assert scripts.settle("ta", [UDHR_1["te"]]) == "ta"   # only where the speech is one


# Real Hindi sentences, and what a reader of romanized Hindi expects: the schwa a speaker drops is
# not written ("kamal", not "kamala"), no diacritics, a nasal vowel at a word's end as n.
READABLE = [
    ("कमल", "kamal"),
    ("मैं घर जा रहा हूँ।", "main ghar ja raha hun."),
    ("क्या आप मेरी मदद कर सकते हैं?", "kya ap meri madad kar sakte hain?"),
    ("भारत एक विशाल देश है।", "bharat ek vishal desh hai."),
    ("उसने कहा कि वह कल आएगा।", "usne kaha ki vah kal aega."),
    ("बरसात का मौसम", "barsat ka mausam"),
    ("नहीं, मैं नहीं जानता", "nahin, main nahin janta"),
    ("हिंदी", "hindi"),
]


@pytest.mark.parametrize("hindi,latin", READABLE)
def test_romanized_hindi_reads_as_readers_write_it(hindi, latin):
    assert romanize.transliterate([hindi], "hi-Latn") == [latin]


def test_diacritics_only_when_asked_and_other_scripts():
    assert romanize.transliterate(["भारत एक विशाल देश है।"], "hi-Latn", "iso") == ["bhārat ēk viśāl dēś hai."]
    assert romanize.transliterate(["வணக்கம்"], "ta-Latn") == ["vanakkam"]
    shahmukhi = romanize.transliterate(["ਮੈਂ ਘਰ ਜਾ ਰਿਹਾ ਹਾਂ"], "pa-Arab")[0]
    assert scripts.dominant(shahmukhi) == "Arab"
    # text already in the target script, or in none the language uses, is left as it is
    assert romanize.transliterate(["OK, 2024", "kamal"], "hi-Latn") == ["OK, 2024", "kamal"]


def test_target_tags():
    assert languages.normalize("hi-latn", target=True) == "hi-Latn"
    assert romanize.target_script("hi-Latn") == "Latn"
    assert romanize.target_script("ks-Deva") is None       # a script ks has a model for
    assert romanize.language_of("hi-Latn") == "hi"
    with pytest.raises(UserError, match="hi-Deva"):
        languages.normalize("hi-Latn")                      # as a source
    with pytest.raises(UserError, match="short vowels"):
        romanize.check("en", "ur-Latn")


def sh(args, cache, out):
    env = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1")
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


CUES = [(1.0, 3.5, "मैं घर जा रहा हूँ।"), (4.0, 6.2, "क्या आप मेरी मदद कर सकते हैं?"),
        (7.04, 9.0, "बरसात का मौसम है,\nऔर कमल खिल रहे हैं।")]


def test_a_devanagari_srt_romanized_offline_on_its_own_cue_times(tmp_path):
    """--subs film.hi.srt -s hi -t hi-Latn with an empty model cache: no model is needed."""
    subs = tmp_path / "film.hi.srt"
    subs.write_text(srt.compose([srt.Subtitle(i, srt.timedelta(seconds=a), srt.timedelta(seconds=b), text)
                                 for i, (a, b, text) in enumerate(CUES, 1)]), encoding="utf-8")
    cache, out = tmp_path / "empty-cache", tmp_path / "out"
    prep = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "hi-Latn"], cache, out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    cues = list(srt.parse((out / job_id / "subtitles" / "film.hi-Latn.srt").read_text(encoding="utf-8")))
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in cues] == [(a, b) for a, b, _ in CUES]
    assert [c.content for c in cues] == ["main ghar ja raha hun.", "kya ap meri madad kar sakte hain?",
                                         "barsat ka mausam hai,\naur kamal khil rahe hain."]
    assert not list(cache.glob("**/*.bin"))


def test_transliteration_options_are_checked(tmp_path):
    subs = tmp_path / "film.hi.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nकमल\n", encoding="utf-8")
    for args, says in ((["-t", "hi-Xyz"], "unknown script 'Xyz'"),
                       (["-t", "en", "--romanization", "iso"], "--romanization belongs"),
                       (["-t", "ur-Latn"], "short vowels")):
        result = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", *args], tmp_path / "c", tmp_path / "o")
        assert result.returncode != 0 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_segment_in_the_wrong_script_is_decoded_again_and_recorded(tmp_path):
    """-s hi on English speech, through the faster-whisper engine: the multilingual base writes the
    English in Latin letters, which is not Hindi's script; the segment is decoded again with Hindi
    forced, and what was found, why and what was done is in transcript.json decoding.script."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from make_sample import make

    media = tmp_path / "news.mp4"
    make(media, sentences=["The monsoon arrived early this year.", "Schools will remain open on Monday."])
    cache, out = REPO / ".cache", tmp_path / "out"
    prep = sh(["./prepare-job.sh", "--media", str(media), "--workflow", "transcribe", "-s", "hi",
               "--model", "base"], cache, out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh(["./run-pipeline.sh", "-j", job_id], cache, out)
    assert run.returncode == 0, run.stdout + run.stderr
    transcript = json.loads((out / job_id / "transcript.json").read_text())
    script = transcript["decoding"]["script"]
    assert script and all(e["found"] != "Deva" and e["expected"] == ["Deva"] for e in script), script
    assert any(e["found"] == "Latn" for e in script), script  # the English, in Latin letters
    for entry in script:
        assert entry["reason"] == f"written in {entry['found']}, not in Deva" and entry["text_before"]
        assert entry["action"].startswith(("decoded again", "kept: decoded again")), entry
