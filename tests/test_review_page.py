"""review.html in a real browser: Debian's chromium, headless, driven by selenium through Debian's
chromium-driver (neither downloads anything). A finished transcribe job and a subtitle job, made by
the real fronts; every cue listed, the flagged ones flagged, a click that seeks the video, an edit
exported as SRT, no request leaving the page, and a screenshot."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import srt

from conftest import REPO, clean_env

sys.path.insert(0, str(REPO / "scripts"))
from make_sample import DIALOGUE, DIALOGUE_GAPS, VOICES, make  # noqa: E402

SCREENSHOTS = Path(os.environ.get("REVIEW_SCREENSHOTS", "")) if os.environ.get("REVIEW_SCREENSHOTS") else None


def sh(*cmd, out, **env):
    return subprocess.run(list(cmd), cwd=REPO, env=clean_env(SUBTITLER_OUT_DIR=str(out), HF_HUB_OFFLINE="1", **env),
                          capture_output=True, text=True, timeout=900)


def run_job(media, out, *extra):
    prep = sh("./prepare-job.sh", "--media", str(media), *extra, out=out)
    assert prep.returncode == 0, prep.stderr
    job_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-j", job_id, out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    return job_id, out / job_id


@pytest.fixture(scope="module")
def transcribe_job(tmp_path_factory):
    """The sample dialogue in three voices (the speakers stage hears them), English, tiny.en."""
    media_dir, out = tmp_path_factory.mktemp("media"), tmp_path_factory.mktemp("out")
    media = media_dir / "three voices.mp4"
    make(media, sentences=[text for _, text in DIALOGUE], voice=[VOICES[v] for v, _ in DIALOGUE], gap=DIALOGUE_GAPS)
    job_id, job_path = run_job(media, out, "--workflow", "transcribe", "-s", "en", "--model", "tiny.en")
    return job_id, job_path, out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (README: test prerequisites)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,950",
                "--mute-audio", "--autoplay-policy=no-user-gesture-required", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def open_page(driver, page: Path):
    driver.get(page.resolve().as_uri())
    wait_for(driver, "return document.querySelectorAll('#cues tr.cue').length > 0 || "
                     "!!document.querySelector('#cues .empty')")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def wait_for(driver, script, *args, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def cue_lists(job_path):
    tracks = []
    for manifest in ("subtitles.json", "translated_subtitles.json"):
        if (job_path / manifest).exists():
            tracks += json.loads((job_path / manifest).read_text())["tracks"]
    return {t["language"]: json.loads((job_path / t["cue_list"]).read_text()) for t in tracks}


def rows(driver):
    return driver.execute_script("""return [...document.querySelectorAll('#cues tr.cue')].map(tr => ({
        text: tr.querySelector('.txt').innerText, flagged: tr.classList.contains('flagged'),
        kinds: [...tr.querySelectorAll('.flag')].map(f => f.dataset.kind).filter(k => k),
        start: tr.querySelector('input.start').value}))""")


def check_track(driver, listed):
    shown = rows(driver)
    assert len(shown) == len(listed["cues"]) > 0
    for row, cue in zip(shown, listed["cues"]):
        assert row["text"].strip() == "\n".join(cue["lines"]).strip()
        assert row["flagged"] == bool(cue["flags"])
        assert row["kinds"] == [f["kind"] for f in cue["flags"]]
    flagged = driver.execute_script("return +document.querySelector('#flaggedCount b').textContent")
    assert flagged == sum(1 for c in listed["cues"] if c["flags"])


def test_transcribe_job_page_lists_every_cue_with_its_flags(transcribe_job, browser):
    job_id, job_path, _ = transcribe_job
    page = job_path / "review.html"
    assert page.exists()
    listed = cue_lists(job_path)["en"]
    assert any(c["flags"] for c in listed["cues"]), "a dialogue in two voices has speaker changes to flag"
    open_page(browser, page)
    check_track(browser, listed)
    # "only flagged" hides the rest
    browser.find_element("id", "onlyFlagged").click()
    visible = browser.execute_script("return document.querySelectorAll('#cues tr.cue:not(.hidden)').length")
    assert visible == sum(1 for c in listed["cues"] if c["flags"])
    browser.find_element("id", "onlyFlagged").click()
    # the text is set in a Noto face, and the timeline drew the waveform from the stage's peaks
    assert "Noto Sans" in browser.execute_script("return getComputedStyle(document.querySelector('.txt')).fontFamily")
    assert browser.execute_script("return !!JSON.parse(document.getElementById('review-data').textContent).peaks")


def test_a_click_on_a_cue_seeks_the_video(transcribe_job, browser):
    job_id, job_path, _ = transcribe_job
    open_page(browser, job_path / "review.html")
    assert browser.execute_script("return document.getElementById('media').tagName") == "VIDEO"
    wait_for(browser, "return document.getElementById('media').readyState >= 1")
    listed = cue_lists(job_path)["en"]["cues"]
    target = len(listed) - 1
    browser.find_elements("css selector", "#cues tr.cue td.num")[target].click()
    at = wait_for(browser, "const t = document.getElementById('media').currentTime;"
                           "return Math.abs(t - arguments[0]) < 0.05 ? t : null", listed[target]["start"])
    assert at == pytest.approx(listed[target]["start"], abs=0.05)
    assert browser.execute_script("return document.querySelector('#cues tr.current').dataset.index") == str(target)
    assert browser.execute_script("return document.getElementById('overlay').innerText").strip() == \
        "\n".join(listed[target]["lines"]).strip()


def test_an_edit_is_exported_as_srt_that_parses_and_holds_it(transcribe_job, browser):
    from selenium.webdriver.common.keys import Keys

    job_id, job_path, _ = transcribe_job
    open_page(browser, job_path / "review.html")
    listed = cue_lists(job_path)["en"]["cues"]
    box = browser.find_elements("css selector", "#cues .txt")[1]
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("Edited line, with <brackets> & ampersand")
    end = browser.find_elements("css selector", "#cues input.end")[1]
    end.clear()
    end.send_keys("00:00:59.500" if listed[1]["end"] > 59.5 else f"00:00:{min(listed[1]['end'] + 0.25, 59):06.3f}")
    end.send_keys(Keys.TAB)
    assert "edited" in browser.find_elements("css selector", "#cues tr.cue")[1].get_attribute("class")
    for name in ("srt", "vtt"):
        for old in browser.downloads.glob(f"*.{name}"):
            old.unlink()
    browser.find_element("id", "exportSrt").click()
    browser.find_element("id", "exportVtt").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (list(browser.downloads.glob("*.edited.srt"))
                                               and list(browser.downloads.glob("*.edited.vtt"))):
        time.sleep(0.2)
    exported = list(srt.parse(next(browser.downloads.glob("*.edited.srt")).read_text(encoding="utf-8")))
    assert len(exported) == len(listed)
    assert exported[1].content == "Edited line, with <brackets> & ampersand"
    assert [c.content for i, c in enumerate(exported) if i != 1] == \
        ["\n".join(c["lines"]) for i, c in enumerate(listed) if i != 1]
    assert exported[0].start.total_seconds() == pytest.approx(listed[0]["start"], abs=0.001)
    import webvtt

    vtt = webvtt.read(str(next(browser.downloads.glob("*.edited.vtt"))))
    assert len(vtt.captions) == len(listed)
    # escaped once, as the subtitles stage writes WebVTT (in a voice span where the cue has a speaker)
    assert html.unescape(re.sub(r"</?v[^>]*>", "", vtt.captions[1].text)) == "Edited line, with <brackets> & ampersand"
    assert "prepare-job.sh --subs" in browser.find_element("id", "howto").text
    browser.execute_script("window.onbeforeunload = null; dirty = false;")


def requests_sent_offline(driver, page: Path) -> list[str]:
    """The URLs the page requests, loaded and used (a seek) with the browser's network off."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        driver.get_log("performance")  # what came before
        open_page(driver, page)
        if driver.execute_script("return !!document.getElementById('media')"):
            wait_for(driver, "return document.getElementById('media').readyState >= 1")
        driver.find_elements("css selector", "#cues tr.cue td.num")[0].click()
        time.sleep(1)
        sent = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        assert not driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => !/^(file|data|blob):/.test(e.name)).length")
        return [m["params"]["request"]["url"] for m in sent if m["method"] == "Network.requestWillBeSent"]
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                    "downloadThroughput": -1, "uploadThroughput": -1})


def test_with_the_network_off_no_request_leaves_the_page(transcribe_job, browser):
    job_id, job_path, _ = transcribe_job
    urls = requests_sent_offline(browser, job_path / "review.html")
    assert any(u.endswith("review.html") for u in urls) and any(u.endswith(".mp4") for u in urls), urls
    assert all(u.split(":", 1)[0] in ("file", "data", "blob") for u in urls), urls


def export(driver, button: str, pattern: str) -> Path:
    for old in driver.downloads.glob(pattern):
        old.unlink()
    driver.find_element("id", button).click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list(driver.downloads.glob(pattern)):
        time.sleep(0.2)
    time.sleep(0.3)
    return next(driver.downloads.glob(pattern))


def test_screenshot_of_a_flagged_page(transcribe_job, browser, tmp_path):
    job_id, job_path, _ = transcribe_job
    open_page(browser, job_path / "review.html")
    wait_for(browser, "return document.getElementById('media').readyState >= 2")
    flagged = browser.find_elements("css selector", "#cues tr.cue.flagged td.num")
    (flagged or browser.find_elements("css selector", "#cues tr.cue td.num"))[0].click()
    time.sleep(0.5)
    shot = (SCREENSHOTS or tmp_path) / "review-transcribe.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000  # a page, not a blank


def page_data(page: Path) -> dict:
    found = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', page.read_text(encoding="utf-8"),
                      re.S)
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def subtitle_job(overfit_nllb_cache, tmp_path_factory):
    """A Hindi subtitle job into English and French (the translate e2e's job), its page made by --review."""
    from test_translate_e2e import run_subtitle_job

    media = tmp_path_factory.mktemp("hindi") / "समाचार news.mp4"
    from tiny_models import HINDI_ENGLISH_PAIRS

    truth = make(media, lang="hi", sentences=[hi for hi, _ in HINDI_ENGLISH_PAIRS[:4]])
    out = tmp_path_factory.mktemp("out")
    job_path, _ = run_subtitle_job((media, truth), overfit_nllb_cache, out)
    review = sh("./run-pipeline.sh", "-j", job_path.name, "--review", out=out, SUBTITLER_CACHE_DIR=str(overfit_nllb_cache))
    assert review.returncode == 0, review.stdout + review.stderr
    assert review.stdout.strip().splitlines()[-1] == str(job_path / "review.html")
    return job_path


def test_subtitle_job_page_has_every_track_in_its_script(subtitle_job, browser):
    listed = cue_lists(subtitle_job)
    assert set(listed) == {"hi", "en", "fr"}
    open_page(browser, subtitle_job / "review.html")
    names = browser.execute_script("return [...document.querySelectorAll('#track option')].map(o => o.textContent)")
    assert names[0].startswith("Hindi (hi) - source") and len(names) == 3
    for index, name in enumerate(names):
        browser.execute_script("const s = document.getElementById('track'); s.value = arguments[0];"
                               "s.dispatchEvent(new Event('change'))", str(index))
        check_track(browser, listed[re.search(r"\((\w+)\)", name).group(1)])
    browser.execute_script("const s = document.getElementById('track'); s.value = '0'; s.dispatchEvent(new Event('change'))")
    # Devanagari set in Noto: the face is there for the page to use, and the text is the transcript's
    assert browser.execute_script("return document.fonts.check(\"15px 'Noto Sans Devanagari'\", 'समाचार')")
    first = browser.find_elements("css selector", "#cues .txt")[0].text
    assert first.strip() == "\n".join(listed["hi"]["cues"][0]["lines"]).strip()
    wait_for(browser, "return document.getElementById('media').readyState >= 1")
    browser.find_elements("css selector", "#cues tr.cue td.num")[2].click()
    wait_for(browser, "return Math.abs(document.getElementById('media').currentTime - arguments[0]) < 0.05",
             listed["hi"]["cues"][2]["start"])
    # the English track, edited and exported
    browser.execute_script("const s = document.getElementById('track'); s.value = '1'; s.dispatchEvent(new Event('change'))")
    language = re.search(r"\((\w+)\)", names[1]).group(1)
    box = browser.find_elements("css selector", "#cues .txt")[0]
    box.click()
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("नमस्ते, edited")
    exported = list(srt.parse(export(browser, "exportSrt", f"*.{language}.edited.srt").read_text(encoding="utf-8")))
    assert [c.content for c in exported] == ["नमस्ते, edited"] + ["\n".join(c["lines"]) for c in listed[language]["cues"][1:]]
    browser.execute_script("dirty = false;")
    if SCREENSHOTS:  # REVIEW_SCREENSHOTS=DIR keeps a look at the Hindi job's page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "review-subtitle.png"))
    urls = requests_sent_offline(browser, subtitle_job / "review.html")
    assert all(u.split(":", 1)[0] in ("file", "data", "blob") for u in urls), urls


def test_right_to_left_text_reads_right_to_left(browser, tmp_path):
    """An Urdu track: each cue's text and the overlay take their direction from the text (dir=auto)."""
    from shared.review import page

    urdu = ["یہ ایک جملہ ہے۔", "اور یہ دوسرا۔"]
    data = {"job_id": "urdu", "workflow": "subs", "source": "film.ur.srt", "source_language": "ur", "duration": 6.0,
            "fps": None, "media": None, "peaks": None, "regions": [], "shots": [], "redecoded": [], "dropped": [],
            "speakers": [], "low_confidence": 0.5, "max_cps": 17.0, "reimport": "./prepare-job.sh --subs EDITED.srt",
            "tracks": [{"language": "ur", "role": "source", "name": "Urdu (ur) - source", "file": "film.ur.srt",
                        "compliance": None, "cues": [{"start": 2.0 * i, "end": 2.0 * i + 1.5, "lines": [text],
                                                      "speakers": [], "flags": [], "words": []}
                                                     for i, text in enumerate(urdu)]}]}
    target = tmp_path / "review.html"
    target.write_text(page.render(data), encoding="utf-8")
    open_page(browser, target)
    assert browser.execute_script("return [...document.querySelectorAll('#cues .txt')].every(e => e.matches(':dir(rtl)'))")
    assert browser.execute_script("return document.fonts.check(\"15px 'Noto Nastaliq Urdu'\", arguments[0])"
                                  " || document.fonts.check(\"15px 'Noto Naskh Arabic'\", arguments[0])", urdu[0])
    browser.find_elements("css selector", "#cues tr.cue td.num")[1].click()  # no media: the page's own clock
    assert browser.execute_script("return document.getElementById('overlay').innerText").strip() == urdu[1]


def test_media_a_browser_cannot_play_gets_a_proxy_and_an_unfinished_job_a_page(transcribe_job, browser, tmp_path):
    """The job's media as MKV with AC-3 audio (no browser plays AC-3): --review on a job whose media
    changed (its stages stale) still makes the page of what it has, with a WebM proxy that plays."""
    job_id, job_path, out = transcribe_job
    job = json.loads((job_path / "job.json").read_text())
    mkv = tmp_path / "film -ac3.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", job["media"], "-c:v", "copy", "-c:a", "ac3", str(mkv)],
                   check=True)
    copy = out / "proxy-job"
    shutil.copytree(job_path, copy, ignore=shutil.ignore_patterns("review*", ".lock"))
    job.update(job_id="proxy-job", media=str(mkv))
    (copy / "job.json").write_text(json.dumps(job))
    review = sh("./run-pipeline.sh", "-j", "proxy-job", "--review", out=out)
    assert review.returncode == 0, review.stdout + review.stderr
    assert "not finished" in review.stdout and review.stdout.strip().splitlines()[-1] == str(copy / "review.html")
    data = page_data(copy / "review.html")
    assert data["media"]["proxy"] and data["media"]["src"] == "review-media.webm"
    assert data["media"]["codecs"]["audio"] == "ac3"
    open_page(browser, copy / "review.html")
    wait_for(browser, "const m = document.getElementById('media'); return m.readyState >= 1 && m.videoWidth > 0")
    listed = cue_lists(copy)["en"]["cues"]
    browser.find_elements("css selector", "#cues tr.cue td.num")[1].click()
    wait_for(browser, "return Math.abs(document.getElementById('media').currentTime - arguments[0]) < 0.05",
             listed[1]["start"])


def test_an_audio_job_gets_a_player_and_a_waveform(transcribe_job, browser, tmp_path):
    job_id, job_path, out = transcribe_job
    audio = tmp_path / "interview.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", json.loads((job_path / "job.json").read_text())["media"],
                    "-vn", "-c:a", "aac", str(audio)], check=True)
    _, audio_job = run_job(audio, out, "--workflow", "transcribe", "-s", "en", "--model", "tiny.en", "--speakers", "off")
    data = page_data(audio_job / "review.html")
    assert data["media"]["kind"] == "audio" and not data["media"]["proxy"] and data["fps"] is None
    assert data["media"]["src"] == os.path.relpath(audio, audio_job)
    assert data["peaks"]["per_second"] == 50 and len(data["peaks"]["data"]) > 0
    open_page(browser, audio_job / "review.html")
    assert browser.execute_script("return document.getElementById('media').tagName") == "AUDIO"
    wait_for(browser, "return document.getElementById('media').readyState >= 1")
    # the waveform is drawn: the canvas holds more than its background
    assert browser.execute_script("""const c = document.getElementById('wave'), g = c.getContext('2d');
        const d = g.getImageData(0, 0, c.width, c.height).data; let grey = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 0x8a && d[i + 1] === 0x96 && d[i + 2] === 0xa3) grey++;
        return grey > 1000""")


def test_review_front_prints_the_path_and_opens_only_where_a_desktop_is(transcribe_job, tmp_path):
    job_id, job_path, out = transcribe_job
    quiet = sh("./run-pipeline.sh", "-j", job_id, "--review", out=out)
    assert quiet.returncode == 0 and quiet.stdout.strip().splitlines()[-1] == str(job_path / "review.html")
    assert "no desktop browser" in quiet.stderr
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "xdg-open").write_text(f"#!/bin/sh\necho \"$@\" > '{tmp_path}/opened'\n")
    (fake / "xdg-open").chmod(0o755)
    opened = sh("./run-pipeline.sh", "-j", job_id, "--review", out=out, DISPLAY=":0",
                PATH=f"{fake}:{os.environ['PATH']}")
    assert opened.returncode == 0, opened.stderr
    deadline = time.monotonic() + 10
    while not (tmp_path / "opened").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "opened").read_text().strip() == str(job_path / "review.html")
    # a job made before the review stage existed gets it, and its page
    job = json.loads((job_path / "job.json").read_text())
    job["stages"].remove("review")
    (job_path / "job.json").write_text(json.dumps(job))
    (job_path / "review.html").unlink()
    again = sh("./run-pipeline.sh", "-j", job_id, "--review", out=out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (job_path / "review.html").exists() and "review" in json.loads((job_path / "job.json").read_text())["stages"]
    refused = sh("./run-pipeline.sh", "-j", job_id, "--review", "--force", out=out)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1


def test_a_batch_gets_a_page_of_its_jobs(tmp_path):
    folder, out = tmp_path / "media", tmp_path / "out"
    folder.mkdir()
    for name in ("one", "two"):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=2",
                        str(folder / f"{name}.wav")], check=True)
    prep = sh("./prepare-job.sh", "--media", str(folder), "--workflow", "transcribe", "-s", "en", "--model", "tiny.en",
              out=out)
    assert prep.returncode == 0, prep.stderr
    batch_id = prep.stdout.strip().splitlines()[-1]
    run = sh("./run-pipeline.sh", "-b", batch_id, "--workers", "1", out=out)
    assert run.returncode == 0, run.stdout + run.stderr
    page = out / "batches" / f"{batch_id}.html"
    assert f"review: {page}" in run.stdout
    shown = sh("./run-pipeline.sh", "-b", batch_id, "--review", out=out)
    assert shown.returncode == 0 and shown.stdout.strip().splitlines()[-1] == str(page)
    text = page.read_text(encoding="utf-8")
    for job in json.loads(sh("./run-pipeline.sh", "-b", batch_id, "--status", "--json", out=out).stdout)["jobs"]:
        assert f'<tr data-job="{job["job_id"]}">' in text and f'href="../{job["job_id"]}/review.html"' in text
        assert (out / job["job_id"] / "review.html").exists()
    assert text.count('class="done"') == 2 and "https:" not in text and "http:" not in text


def test_a_new_page_template_makes_a_finished_jobs_page_stale(transcribe_job, tmp_path, monkeypatch):
    from shared.jobs import state

    job_id, job_path, _ = transcribe_job
    job = json.loads((job_path / "job.json").read_text())
    template = tmp_path / "template.html"
    template.write_text("one")
    monkeypatch.setattr(state, "REVIEW_TEMPLATE", template)
    before = state.fingerprint(job, job_path, "review")
    template.write_text("a new version")
    assert state.fingerprint(job, job_path, "review") != before
