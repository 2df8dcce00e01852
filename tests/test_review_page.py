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


def test_with_the_network_off_no_request_leaves_the_page(transcribe_job, browser):
    job_id, job_path, _ = transcribe_job
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                 "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        browser.get_log("performance")  # what came before
        open_page(browser, job_path / "review.html")
        wait_for(browser, "return document.getElementById('media').readyState >= 1")
        browser.find_elements("css selector", "#cues tr.cue td.num")[0].click()
        time.sleep(1)
        sent = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in sent if m["method"] == "Network.requestWillBeSent"]
        assert urls, "the page and its media are requests too"
        assert all(u.split(":", 1)[0] in ("file", "data", "blob") for u in urls), urls
        assert not browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => !/^(file|data|blob):/.test(e.name)).length")
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                     "downloadThroughput": -1, "uploadThroughput": -1})


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
