"""The HTML report in a real headless Chromium: every figure decodes, no console errors, offline.

Skips (with the reason) only when Chromium / chromedriver / selenium cannot be found or
launched. The results fed to the report follow the documented results.json schema; the
numbers come from a seeded generator and the metrics are computed from them here.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inscl.data.jsonio import write_json
from inscl.report import build_report

TASKS = ["add_numbers", "uppercase_word", "even_or_odd", "list_max"]
INSTRUCTIONS = {t: [f"{t} phrasing {k}" for k in range(4)] for t in TASKS}


def _results(strategy: str, seed: int, rng: np.random.Generator) -> dict[str, Any]:
    T = len(TASKS)
    R = np.tril(rng.uniform(0.1, 0.95, (T, T)))
    rows = [[float(R[t, i]) if i <= t else None for i in range(T)] for t in range(T)]
    reference = np.diag(R)
    avg = [float(R[t, : t + 1].mean()) for t in range(T)]
    rg = [float(np.mean(R[t, : t + 1] / reference[: t + 1])) for t in range(T)]
    forgetting = {TASKS[i]: float(R[i:, i].max() - R[-1, i]) for i in range(T - 1)}
    stages = []
    for t, task in enumerate(TASKS):
        stages.append({
            "task": task, "available": {p: 20 for p in TASKS[:t]},
            "quotas": {p: int(rng.integers(1, 6)) for p in TASKS[:t]},
            "distances": {p: float(rng.uniform(0.1, 1.0)) for p in TASKS[:t]} if strategy == "inscl" else {},
            "insinfo": ({p: {s: float(rng.uniform(0, 4)) for s in INSTRUCTIONS[p]} for p in TASKS[: t + 1]}
                        if strategy == "inscl" else {}),
            "selected": {}, "wasserstein_method": "exact" if strategy == "inscl" else None})
    return {
        "strategy": strategy, "seed": seed, "budget": 5, "order": TASKS, "R": rows,
        "reference": {"kind": "diagonal", "scores": dict(zip(TASKS, map(float, reference)))},
        "metrics": {"avg_score": avg, "relative_gain": rg, "final_rg": rg[-1], "forgetting": forgetting,
                    "bwt": float(np.mean([R[-1, i] - R[i, i] for i in range(T - 1)])),
                    "forgetting_analysis": {"instruction_related": int(rng.integers(0, 4)),
                                            "instruction_unrelated": int(rng.integers(0, 4)),
                                            "rule": "R < threshold"}},
        "plan": None if strategy == "none" else {"strategy": strategy, "budget": 5, "seed": seed,
                                                 "order": TASKS, "stages": stages},
        "config": {"replay": {"strategies": ["none", "random", "inscl"]}}, "timing": {"total_s": 1.5},
    }


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("Chromium or chromedriver not found (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.common.exceptions import WebDriverException

    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
    except (WebDriverException, OSError) as exc:  # a launch failure means "no usable browser here"
        pytest.skip(f"Chromium could not be launched: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_renders_every_figure_without_console_errors(browser: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for strategy in ("none", "random", "inscl"):
        for seed in (0, 1):
            write_json(tmp_path / "run" / strategy / f"seed{seed}" / "results.json", _results(strategy, seed, rng))
    files = build_report([tmp_path / "run"], tmp_path / "report")
    page = files.html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page

    browser.get(files.html.resolve().as_uri())
    state = browser.execute_script("""
        return Array.from(document.images).map(img => ({
            alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
            shown: img.getBoundingClientRect().width}));""")
    assert len(state) == len(files.figures) == 8
    for img in state:
        assert img["complete"] and img["width"] > 0 and img["height"] > 0 and img["shown"] > 0, img
    headings = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    for title in ("Summary", "Paired differences", "Task distances", "Replay quotas", "Scores R[t][i]", "Forgetting per task",
                  "Forgetting analysis", "InsInfo", "Run configuration"):
        assert title in headings
    cells = browser.execute_script("return document.querySelectorAll('table td').length")
    assert cells > 20
    errors = [e for e in browser.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == []

    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}})
    screenshot = tmp_path / "report-screenshot.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000


def test_report_without_plans_renders_with_notes(browser: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    write_json(tmp_path / "run" / "none" / "seed0" / "results.json", _results("none", 0, rng))
    files = build_report([tmp_path / "run"], tmp_path / "report")
    browser.get(files.html.resolve().as_uri())
    notes = browser.execute_script("return Array.from(document.querySelectorAll('p.note')).map(p => p.textContent)")
    assert any("No plan with task distances" in n for n in notes)
    assert any("InsInfo" in n for n in notes)
    widths = browser.execute_script("return Array.from(document.images).map(img => img.naturalWidth)")
    assert len(widths) == len(files.figures) and all(w > 0 for w in widths)
    assert [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] == []
