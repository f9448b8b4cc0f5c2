"""Browsing a backup: pages and subtitles from the sidecars, driven in a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import command, frames, free_port, keyframes, run, shoot, shoot_burst
from photorescue_batch.sidecar import read_sidecar

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BOX = 256


@pytest.fixture
def browsable(library: Path, tmp_path: Path) -> Path:
    trip = library / "Trip"
    shoot(trip / "IMG_0.jpg", seed=20, minutes=0)
    shoot_burst([trip / f"IMG_{i}.jpg" for i in (1, 2, 3)], seed=21, minutes=1)
    shoot(trip / "IMG_4.jpg", seed=24, minutes=4)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    # Photos 0 and 4 are coded by the all-intra encoder, the burst 1-3 by a predicting one.
    assert keyframes(dest / "Trip" / "Trip.mp4") == [True, True, False, False, True]
    for i in (5, 6):  # a rerun adds a second segment: Trip.2.mp4
        shoot(library / "Trip" / f"IMG_{i}.jpg", size=(480, 320), seed=20 + i, minutes=i)
    run("backup", library, dest, "--box", BOX, check_code=0)
    run("browse", dest, check_code=0)
    return dest


def test_pages_and_subtitles_are_written_from_the_sidecars(browsable):
    record = read_sidecar(browsable / "Trip" / "Trip.xml.gz")
    srt = (browsable / "Trip" / "Trip.srt").read_text()
    assert srt.count(" --> ") == 5
    assert "00:00:02,000 --> 00:00:03,000\nIMG_2.jpg\n2021-05-01 12:02:00" in srt
    second = (browsable / "Trip" / "Trip.2.srt").read_text()
    assert "00:00:01,000 --> 00:00:02,000\nIMG_6.jpg" in second and second.count(" --> ") == 2
    page = (browsable / "Trip" / "Trip.html").read_text()
    for photo in record.photos:
        assert photo.name in page
    index = (browsable / "index.html").read_text()
    assert "Trip/Trip.html" in index
    for text in (index, page):
        assert "http://" not in text and "https://" not in text, "nothing from the internet"


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver")
def test_clicking_a_photo_seeks_the_video_and_arrows_step(browsable, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    server = subprocess.Popen(
        command("browse", browsable, "--serve", "--port", port),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = None
    try:
        assert "serving" in server.stdout.readline() + server.stdout.readline()
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        wait = WebDriverWait(driver, 30)
        driver.get(f"http://127.0.0.1:{port}/index.html")
        driver.find_element(By.LINK_TEXT, "Trip").click()
        video = wait.until(lambda d: d.find_element(By.ID, "video"))
        wait.until(lambda d: d.execute_script("return arguments[0].readyState >= 2", video))
        assert driver.execute_script("return arguments[0].videoWidth", video) == BOX

        driver.find_elements(By.CSS_SELECTOR, "#list li")[2].click()
        wait.until(lambda d: d.execute_script("return !arguments[0].seeking", video))
        assert driver.execute_script("return arguments[0].currentTime", video) == 2.0
        assert driver.execute_script("return arguments[0].paused", video)
        assert driver.find_element(By.ID, "caption").text.startswith("IMG_2.jpg")
        assert "restore" in driver.find_element(By.ID, "restore").text
        assert "'Trip/IMG_2.jpg'" in driver.find_element(By.ID, "restore").text
        # The frame on screen is the burst's third, predicted from its first: Chromium decodes
        # the two encoders' packets in one track as PyAV does.
        assert nearest_frame(browsable, on_screen(driver, video)) == 2

        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: d.find_element(By.ID, "caption").text.startswith("IMG_3.jpg"))
        assert driver.execute_script("return arguments[0].currentTime", video) == 3.0
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: d.find_element(By.ID, "caption").text.startswith("IMG_4.jpg"))
        wait.until(lambda d: d.execute_script("return !arguments[0].seeking", video))
        assert nearest_frame(browsable, on_screen(driver, video)) == 4

        # The rerun's photos play from the second segment's video, in the same list.
        driver.find_elements(By.CSS_SELECTOR, "#list li")[6].click()
        wait.until(lambda d: d.execute_script(
            "const v = arguments[0]; return v.src.endsWith('Trip.2.mp4') && v.readyState >= 2"
            " && !v.seeking && v.currentTime === 1", video))  # fmt: skip
        assert driver.find_element(By.ID, "caption").text.startswith("IMG_6.jpg")
        for _ in range(2):
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        wait.until(lambda d: d.find_element(By.ID, "caption").text.startswith("IMG_4.jpg"))
        wait.until(lambda d: d.execute_script(
            "const v = arguments[0]; return v.src.endsWith('/Trip.mp4') && !v.seeking"
            " && v.currentTime === 4", video))  # fmt: skip
        driver.save_screenshot(str(tmp_path / "browse.png"))
        assert (tmp_path / "browse.png").stat().st_size > 1000
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)


GRID = 8  # samples per side, away from the edges


def on_screen(driver, video) -> list[int]:
    """RGB of a grid of points of the frame the video element shows."""
    return driver.execute_script(
        "const v = arguments[0], n = arguments[1], c = document.createElement('canvas');"
        "c.width = v.videoWidth; c.height = v.videoHeight;"
        "const g = c.getContext('2d'); g.drawImage(v, 0, 0);"
        "const d = g.getImageData(0, 0, c.width, c.height).data, out = [];"
        "for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {"
        "  const i = 4 * (Math.floor((y + 0.5) * c.height / n) * c.width"
        "                 + Math.floor((x + 0.5) * c.width / n));"
        "  out.push(d[i], d[i + 1], d[i + 2]); }"
        "return out;",
        video,
        GRID,
    )


def nearest_frame(dest: Path, shown: list[int]) -> int:
    """Which frame of Trip.mp4, decoded by PyAV, the points on screen are; it must also be
    close (a mean of a few levels: Chromium converts YUV to RGB in its own way)."""
    points = [int((k + 0.5) * BOX / GRID) for k in range(GRID)]
    errors = [
        float(np.abs(frame[points][:, points].reshape(-1) - np.array(shown)).mean())
        for frame in frames(dest / "Trip" / "Trip.mp4")
    ]
    nearest = int(np.argmin(errors))
    assert errors[nearest] < 8, errors
    return nearest
