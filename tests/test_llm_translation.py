"""LLM translation and post-editing (issue 13), offline: a local server (tests/llm_server.py) speaks the
Anthropic Messages API and OpenAI chat completions and is scripted per test with good replies,
malformed JSON, a missing id, a dropped glossary term, 429 with Retry-After, 500, a hang past the
time-out and 401. The jobs are subs jobs (a Hindi SRT, no ASR) run by the real run-pipeline.sh; the
MT drafts (post-edit, and every fallback) come from the tiny NLLB overfitted on Hindi->English pairs.

Asserted is what a user sees: the subtitle text, the fallbacks recorded, no key anywhere on disk,
resuming without asking again for finished windows (the server counts requests), one-line errors.
"""

import json
import subprocess

import pytest
import srt

from conftest import NLLB_KEY, REPO, clean_env
from llm_server import LlmServer
from shared.translation import llm
from tiny_models import HINDI_ENGLISH_PAIRS

PAIRS = HINDI_ENGLISH_PAIRS[:4]
KEY = "sk-test-DO-NOT-LEAK-4242424242"


def hindi_srt(path, pairs=PAIRS):
    path.write_text("".join(f"{i}\n00:00:{2 * i:02d},000 --> 00:00:{2 * i + 1:02d},500\n{hi}\n\n"
                            for i, (hi, _) in enumerate(pairs, 1)), encoding="utf-8")
    return path


def sh(args, cache, out, **env):
    full = clean_env(SUBTITLER_CACHE_DIR=str(cache), SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1", **env)
    return subprocess.run(args, cwd=REPO, env=full, capture_output=True, text=True, timeout=600)


def prepare(tmp_path, cache, *args, **env):
    subs = hindi_srt(tmp_path / "film.hi.srt")
    result = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en", "--draft-model", NLLB_KEY, *args],
                cache, tmp_path / "out", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def tune(tmp_path, job_id, **settings):
    """The job's own translate settings (job.json overrides, as a user may set them)."""
    path = tmp_path / "out" / job_id / "job.json"
    job = json.loads(path.read_text())
    job.setdefault("overrides", {}).setdefault("translate", {}).update(settings)
    path.write_text(json.dumps(job))


FAST = dict(llm_backoff_seconds=0.05, llm_timeout_seconds=2, llm_retries=2, llm_concurrency=1)


def run(tmp_path, cache, job_id, **env):
    return sh(["./run-pipeline.sh", "-j", job_id], cache, tmp_path / "out", **env)


def english(tmp_path, job_id) -> list[str]:
    text = (tmp_path / "out" / job_id / "subtitles" / "film.en.srt").read_text(encoding="utf-8")
    return [c.content.replace("\n", " ") for c in srt.parse(text)]


def usage(tmp_path, job_id) -> dict:
    return json.loads((tmp_path / "out" / job_id / "translations.json").read_text())["llm"]


def no_key_on_disk(tmp_path):
    for root in (tmp_path, REPO / "config"):
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_llm_translates_on_a_local_server(overfit_nllb_cache, tmp_path, provider):
    with LlmServer(key=KEY) as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "llm", "--llm", f"{provider}:qwen2.5:7b",
                         "--llm-url", server.url, "--llm-key-env", "MY_LLM_KEY", MY_LLM_KEY=KEY)
        tune(tmp_path, job_id, **FAST, llm_window=2)
        result = run(tmp_path, overfit_nllb_cache, job_id, MY_LLM_KEY=KEY)
        assert result.returncode == 0, result.stdout + result.stderr
        assert english(tmp_path, job_id) == [en for _, en in PAIRS]
        assert len(server.requests) == 2  # 4 sentences, windows of 2
        assert {r["path"] for r in server.requests} == {"/v1/messages" if provider == "anthropic" else "/v1/chat/completions"}
        # the second window carries the first as context
        assert "Context" in LlmServer._prompt(server.requests[1]["body"])
        assert PAIRS[0][1] in LlmServer._prompt(server.requests[1]["body"])
    spent = usage(tmp_path, job_id)
    assert spent["requests"] == 2 and spent["tokens_in"] > 0 and spent["local"] and spent["cost_usd"] == 0.0
    assert spent["fallbacks"] == {"en": []}
    status = sh(["./run-pipeline.sh", "-j", job_id, "--status"], overfit_nllb_cache, tmp_path / "out")
    assert f"llm by {provider}:qwen2.5:7b: 2 requests" in status.stdout
    no_key_on_disk(tmp_path)


def test_post_edit_revises_the_mt_drafts(overfit_nllb_cache, tmp_path):
    with LlmServer() as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "post-edit", "--llm", "openai:local-model",
                         "--llm-url", server.url)
        tune(tmp_path, job_id, **FAST)
        result = run(tmp_path, overfit_nllb_cache, job_id)
        assert result.returncode == 0, result.stdout + result.stderr
        items = json.loads(LlmServer._prompt(server.requests[0]["body"]).split("Translate these items:\n")[1])
    assert [i["draft"] for i in items] == [en for _, en in PAIRS]  # the NLLB drafts went to the LLM
    assert english(tmp_path, job_id) == [f"Revised: {en}" for _, en in PAIRS]
    assert usage(tmp_path, job_id)["translator"] == "post-edit"


@pytest.mark.parametrize("failure", ["malformed", "missing_id"])
def test_a_bad_reply_is_asked_again_smaller_then_falls_back_to_mt(overfit_nllb_cache, tmp_path, failure):
    server_words = {hi: f"LLM {en}" for hi, en in PAIRS}
    with LlmServer(script=[failure, failure, "good"], translate=lambda t: server_words[t]) as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "llm", "--llm", "openai:m", "--llm-url", server.url)
        tune(tmp_path, job_id, **FAST)
        result = run(tmp_path, overfit_nllb_cache, job_id)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(server.requests) == 3  # the window, then its two halves
    # first half: the MT draft; second half: the LLM
    assert english(tmp_path, job_id) == [en for _, en in PAIRS[:2]] + [f"LLM {en}" for _, en in PAIRS[2:]]
    fell = usage(tmp_path, job_id)["fallbacks"]["en"]
    assert [(f["first"], f["last"]) for f in fell] == [(1, 2)] and "MT draft" in fell[0]["reason"]
    status = sh(["./run-pipeline.sh", "-j", job_id, "--status"], overfit_nllb_cache, tmp_path / "out")
    assert "warning: en sentences 1-2" in status.stdout and "2 sentences from the MT fallback" in status.stdout
    # review.html flags the translated cues of those sentences, and only those
    job_path = tmp_path / "out" / job_id
    track = next(t for t in json.loads((job_path / "translated_subtitles.json").read_text())["tracks"])
    cues = json.loads((job_path / track["cue_list"]).read_text())["cues"]
    flagged = ["translation_fallback" in [f["kind"] for f in c["flags"]] for c in cues]
    assert flagged == [not " ".join(c["lines"]).startswith("LLM ") for c in cues] and any(flagged) and not all(flagged)


@pytest.mark.parametrize("case", ["dropped", "left in the source script"])
def test_glossary_terms_are_enforced(overfit_nllb_cache, tmp_path, case):
    terms = tmp_path / "names.tsv"
    terms.write_text("source\ten\nप्रधानमंत्री\tthe Honourable PM\n", encoding="utf-8")
    pairs = [HINDI_ENGLISH_PAIRS[0], HINDI_ENGLISH_PAIRS[2]]  # the second holds the term
    if case == "dropped":  # the model renders the term, then loses it
        script, translate = ["drop_term"], lambda t: "LLM: " + t.replace("प्रधानमंत्री", "the Honourable PM")
    else:  # the model copies the term untranslated: repaired in place
        script, translate = [], lambda t: "LLM: " + t
    with LlmServer(script=script, translate=translate) as server:
        subs = hindi_srt(tmp_path / "film.hi.srt", pairs)
        prep = sh(["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en", "--translator", "llm", "--llm",
                   "openai:m", "--llm-url", server.url, "--glossary", str(terms), "--draft-model", NLLB_KEY],
                  overfit_nllb_cache, tmp_path / "out")
        job_id = prep.stdout.strip().splitlines()[-1]
        tune(tmp_path, job_id, **FAST)
        result = run(tmp_path, overfit_nllb_cache, job_id)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "प्रधानमंत्री => the Honourable PM" in LlmServer._prompt(server.requests[0]["body"])
    texts = english(tmp_path, job_id)
    assert texts[0] == "LLM: " + pairs[0][0]  # no term in it: the LLM's reply stands
    fell = usage(tmp_path, job_id)["fallbacks"]["en"]
    if case == "dropped":
        assert texts[1] == "the Honourable PM reached Mumbai today."  # the MT draft, which keeps the term
        assert [(f["first"], f["last"]) for f in fell] == [(2, 2)] and "glossary term प्रधानमंत्री" in fell[0]["reason"]
    else:
        assert texts[1] == "LLM: the Honourable PM आज मुंबई पहुंचे।" and fell == []


def test_429_waits_for_retry_after_and_500_is_retried(overfit_nllb_cache, tmp_path):
    with LlmServer(script=["429", "500", "good"]) as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "llm", "--llm", "openai:m", "--llm-url", server.url)
        tune(tmp_path, job_id, **{**FAST, "llm_retries": 3})
        result = run(tmp_path, overfit_nllb_cache, job_id)
        assert result.returncode == 0, result.stdout + result.stderr
        times = [r["time"] for r in server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0  # Retry-After: 1 honoured (the backoff alone is 0.05 s)
    assert english(tmp_path, job_id) == [f"EN({hi})" if hi not in dict(PAIRS) else en for hi, en in PAIRS]
    assert usage(tmp_path, job_id)["requests"] == 3


def test_a_failed_run_resumes_without_asking_again(overfit_nllb_cache, tmp_path):
    # window 1 is answered; window 2 meets a service that hangs past the time-out every time
    with LlmServer(script=["good", "hang", "hang", "hang"], hang_seconds=3) as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "llm", "--llm", "openai:m", "--llm-url", server.url)
        tune(tmp_path, job_id, **{**FAST, "llm_timeout_seconds": 1}, llm_window=2)
        failed = run(tmp_path, overfit_nllb_cache, job_id)
        assert failed.returncode != 0
        said = failed.stderr.strip().splitlines()
        assert len(said) == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert "no reply within 1 s" in said[0] and "resumes" in said[0]
        asked = len(server.requests)
        assert asked == 4
        resumed = run(tmp_path, overfit_nllb_cache, job_id)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert len(server.requests) == asked + 1  # only the unfinished window is asked again
    assert english(tmp_path, job_id) == [en for _, en in PAIRS]
    spent = usage(tmp_path, job_id)
    assert spent["reused_windows"] == 1 and spent["windows"] == 2
    assert spent["requests"] == 5  # every request paid for, in both runs


@pytest.mark.parametrize("action,says", [("401", "refused the key in MY_LLM_KEY"), ("404", "does not serve the model"),
                                         ("quota", "quota")])
def test_what_no_retry_mends_stops_in_one_line(overfit_nllb_cache, tmp_path, action, says):
    with LlmServer(script=[action] * 5) as server:
        job_id = prepare(tmp_path, overfit_nllb_cache, "--translator", "llm", "--llm", "openai:m", "--llm-url",
                         server.url, "--llm-key-env", "MY_LLM_KEY", MY_LLM_KEY=KEY)
        tune(tmp_path, job_id, **FAST)
        result = run(tmp_path, overfit_nllb_cache, job_id, MY_LLM_KEY=KEY)
        assert len(server.requests) == 1  # not retried
    said = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(said) == 1 and says in said[0], result.stderr
    assert KEY not in result.stdout + result.stderr
    no_key_on_disk(tmp_path)


def test_a_remote_service_needs_the_job_to_allow_the_network(tmp_path):
    subs = hindi_srt(tmp_path / "film.hi.srt")
    base = ["./prepare-job.sh", "--subs", str(subs), "-s", "hi", "-t", "en", "--translator", "llm",
            "--llm", "anthropic:claude-sonnet-4-5"]
    refused = sh(base, tmp_path, tmp_path / "out", ANTHROPIC_API_KEY=KEY)
    assert refused.returncode == 2 and "--allow-network" in refused.stderr and "api.anthropic.com" in refused.stderr
    no_key = sh(base + ["--allow-network"], tmp_path, tmp_path / "out")
    assert no_key.returncode == 2 and "set ANTHROPIC_API_KEY" in no_key.stderr
    allowed = sh(base + ["--allow-network"], tmp_path, tmp_path / "out", ANTHROPIC_API_KEY=KEY)
    assert allowed.returncode == 0, allowed.stderr
    job = json.loads((tmp_path / "out" / allowed.stdout.strip().splitlines()[-1] / "job.json").read_text())
    assert job["allow_network"] is True and job["overrides"]["translate"]["translator"] == "llm"
    no_key_on_disk(tmp_path)


def test_reply_contract_and_helpers():
    assert llm.parse_reply('```json\n{"translations": [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]}\n```',
                           [1, 2]) == {1: "a", 2: "b"}
    for bad, why in [('{"translations": [{"id": 1, "text": "a"}]}', "missing [2]"),
                     ('{"translations": [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": 3, "text": "c"}]}',
                      "invented [3]"),
                     ('{"translations": [{"id": 1, "text": "a"}, {"id": 1, "text": "b"}]}', "repeated [1]"),
                     ("no json here", "no JSON"), ('{"translations": [{"id": 1, "text": ""}, {"id": 2, "text": "b"}]}',
                                                   "empty")]:
        with pytest.raises(ValueError, match=why.replace("[", r"\[").replace("]", r"\]")):
            llm.parse_reply(bad, [1, 2])
    assert llm.is_loopback("127.0.0.1") and llm.is_loopback("localhost") and llm.is_loopback("::1")
    assert not llm.is_loopback("api.openai.com") and not llm.is_loopback("10.0.0.5")
    point = llm.endpoint("openai:qwen2.5:7b", "http://localhost:11434/v1/")
    assert (point.model, point.url, point.local, point.key_env) == ("qwen2.5:7b", "http://localhost:11434/v1", True,
                                                                    "OPENAI_API_KEY")
    with pytest.raises(llm.UserError):
        llm.endpoint("gemini:pro")
    assert llm.scrub(f"bad key {KEY} and sk-other-abcdefgh", KEY) == "bad key [key] and [key]"


def test_request_bodies_follow_each_protocol():
    from shared.core import config

    settings = {**config.pipeline_defaults()["translate"], "llm_temperature": None}
    items = [{"id": 1, "text": PAIRS[0][0]}]
    with LlmServer(key=KEY) as server:
        for spec in ("openai:m", "anthropic:m"):
            client = llm.Client(llm.endpoint(spec, server.url), KEY, settings)
            reply = client.complete(*llm.prompt("llm", "hi", "en", items, [], {}))
            assert llm.parse_reply(reply, [1]) == {1: PAIRS[0][1]}
            assert client.usage.requests == 1 and client.usage.tokens_out > 0
        openai, anthropic = (r["body"] for r in server.requests)
    assert "temperature" not in openai and openai["max_tokens"] == settings["llm_max_tokens"]
    assert [m["role"] for m in openai["messages"]] == ["system", "user"]
    assert anthropic["system"].startswith("You translate") and [m["role"] for m in anthropic["messages"]] == ["user"]
    assert server.requests[1]["headers"]["anthropic-version"] and server.requests[1]["headers"]["x-api-key"] == KEY
