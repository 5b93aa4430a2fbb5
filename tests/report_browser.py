"""Open a Snakemake HTML report in a real headless browser (Debian's chromium, driven by selenium
through Debian's chromedriver) and read what a person would see."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import pytest

# Flags for a root, offline machine: no sandbox, and no background connections to Google's hosts.
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
]  # fmt: skip
# Console messages that are the report's own (snakemake ships tailwind's development build).
KNOWN_WARNINGS = ("cdn.tailwindcss.com should not be used in production",)


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(driver_path).exists() or not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (setup.sh --test installs them as root)")
    options = webdriver.ChromeOptions()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _wait(predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("the report did not show what was expected in time")


def _show(driver, category: str, file_label: str):
    """Click a results category in the menu, then the eye button of the file labelled `file_label`
    (the render rule labels each file by its output and its name)."""
    from selenium.webdriver.common.by import By

    _wait(lambda: driver.find_elements(By.XPATH, f"//*[text()='{category}']"))[0].click()
    row = _wait(lambda: driver.find_elements(By.XPATH, f"//tr[td[normalize-space()='{file_label}']]"))[0]
    row.find_element(By.XPATH, ".//a[@iconname='eye']").click()


def open_report(report: Path, screenshots: Path) -> dict:
    """What the report shows: its result categories, the main table's text (its HTML, shown in an
    iframe), the size the first figure is laid out at, and every console error; screenshots of
    the start page, the main table and the figure go to `screenshots`."""
    from selenium.webdriver.common.by import By

    with _start_page(report, screenshots) as driver:
        driver.save_screenshot(str(screenshots / "start.png"))
        categories = [
            e.text for e in driver.find_elements(By.XPATH, "//a|//li|//span") if e.text in ("Tables", "Figures", "Index")
        ]
        _show(driver, "Tables", "main_ami")
        frame = _wait(lambda: driver.find_elements(By.TAG_NAME, "iframe"))[0]
        driver.switch_to.frame(frame)
        main_table = _wait(lambda: driver.find_element(By.TAG_NAME, "body").text)
        driver.switch_to.default_content()
        driver.save_screenshot(str(screenshots / "main_table.png"))
        driver.get(report.resolve().as_uri())
        _show(driver, "Figures", "ami_heatmap")
        size = _largest_image(driver)  # the figure
        driver.save_screenshot(str(screenshots / "figure.png"))
        errors = _errors(driver.get_log("browser"))
    return {"categories": sorted(set(categories)), "main_table": main_table, "figure_size": size, "errors": errors}


@contextlib.contextmanager
def _start_page(report: Path, screenshots: Path):
    """A headless chromium (a fresh profile) on the report's start page, its menu drawn; `screenshots`
    made for the caller's screenshots."""
    from selenium.webdriver.common.by import By

    screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = _driver(profile)
        try:
            driver.get(report.resolve().as_uri())
            _wait(lambda: driver.find_elements(By.XPATH, "//*[text()='Tables']"))
            yield driver
        finally:
            driver.quit()


def _largest_image(driver) -> tuple[int, int]:
    """(width, height) of the largest image the page has decoded (the page also has the logo)."""
    from selenium.webdriver.common.by import By

    images = _wait(lambda: [i for i in driver.find_elements(By.TAG_NAME, "img") if i.get_property("naturalWidth") > 100])
    return max((i.get_property("naturalWidth"), i.get_property("naturalHeight")) for i in images)


def _errors(logs) -> list[str]:
    """The console's errors, less the known warnings of Snakemake's report page."""
    return [e["message"] for e in logs if e["level"] == "SEVERE" and not any(k in e["message"] for k in KNOWN_WARNINGS)]


def open_start_page(report: Path, screenshots: Path, link: str) -> dict:
    """What the report's start page says (its text, e.g. the recommendation table), and what following its
    link to the file `link` (e.g. a contact sheet: the link opens the file's panel, whose eye button shows
    it) shows: the largest image decoded then, and any console error; a screenshot of each goes to
    `screenshots`."""
    from selenium.webdriver.common.by import By

    with _start_page(report, screenshots) as driver:
        text = _wait(lambda: driver.find_element(By.TAG_NAME, "body").text)
        driver.save_screenshot(str(screenshots / "start_page.png"))
        _wait(lambda: driver.find_elements(By.XPATH, f"//a[normalize-space()='{link}']"))[0].click()  # the file's panel
        _wait(lambda: driver.find_elements(By.XPATH, "//a[@iconname='eye']"))[0].click()  # then its view
        size = _largest_image(driver)
        driver.save_screenshot(str(screenshots / "linked.png"))
        errors = _errors(driver.get_log("browser"))
    return {"text": text, "linked_image_size": size, "errors": errors}
