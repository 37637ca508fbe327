"""Both reports in a real browser: headless Chromium, driven from the command line.

Each report is opened twice. A probe copy (the report with a hook script injected before the
page's own script, and a probe script after it) records errors and console.error calls, image
sizes, the resources the page fetched, the row order before and after clicking column
headings and what the "flagged scans only" box shows, then writes them as JSON into the DOM, which ``--dump-dom`` prints once the page has
loaded. The report itself is then screenshot as a reader would first see it (1280 x 900).
Chromium's own log (``--enable-logging=stderr``) is checked for console messages too.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from manifest_cases import write_segmentation_folder

from livianet.reporting import write_segmentation_report
from livianet.reporting.html import png_info

CHROMIUM_VARIABLE = "LIVIANET_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
TIMEOUT_S = 180  # a cold start on a busy 2-core machine is slow

HOOK = """<script>
window.__probe = { errors: [] };
window.addEventListener("error", function (event) {
  var t = event.target;
  window.__probe.errors.push(t && t !== window && (t.src || t.href)
    ? "failed to load " + (t.src || t.href)
    : String(event.message) + " at " + event.filename + ":" + event.lineno);
}, true);
window.addEventListener("unhandledrejection", function (event) {
  window.__probe.errors.push("unhandled rejection: " + event.reason);
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__probe.errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
</script>"""

PROBE = """<script>
window.addEventListener("load", function () {
  var probe = window.__probe, spec = __SPEC__;
  var table = document.getElementById(spec.table);
  function key(cell) {
    var sort = cell.getAttribute("data-sort");
    return sort === null ? cell.textContent.trim() : sort;
  }
  function column(label) {
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].textContent.trim() === label) return i;
    }
    throw new Error("no column " + label);
  }
  function keys(index) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return key(row.cells[index]);
    });
  }
  try {
    probe.images = Array.prototype.map.call(document.images, function (img) {
      return { src: img.currentSrc || img.src, width: img.naturalWidth, complete: img.complete };
    });
    var panels = document.querySelectorAll("figure.chart svg g[id^='curve-']");
    probe.charts = Array.prototype.map.call(panels, function (panel) {
      return panel.getBoundingClientRect().width;
    });
    probe.resources = performance.getEntriesByType("resource").map(function (e) { return e.name; });
    var name = column(spec.name);
    probe.first = { key: key(table.tBodies[0].rows[0].cells[name]),
                    flagged: table.tBodies[0].rows[0].classList.contains("flagged") };
    probe.sorts = spec.sort.map(function (label) {
      var index = column(label), head = table.tHead.rows[0].cells[index];
      var before = keys(index);
      head.click();
      var ascending = keys(index), state = head.getAttribute("aria-sort");
      head.click();
      return { label: label, before: before, ascending: ascending, descending: keys(index),
               states: [state, head.getAttribute("aria-sort")] };
    });
    var filter = document.querySelector("input[data-filter='" + spec.table + "']");
    if (filter) {
      filter.click();
      probe.shownWhenFiltered = Array.prototype.filter.call(table.tBodies[0].rows, function (row) {
        return !row.hidden && row.getBoundingClientRect().height > 0;
      }).length;
      filter.click();
    }
  } catch (error) {
    probe.errors.push("probe: " + error);
  }
  var out = document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    """``$LIVIANET_CHROMIUM``, else the first Chromium or Chrome on the PATH."""
    given = os.environ.get(CHROMIUM_VARIABLE)
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    return next((found for n in CHROMIUM_NAMES if (found := shutil.which(n))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)} on PATH and "
            f"${CHROMIUM_VARIABLE}); install it with `apt-get install -y chromium`"
        )
    return binary


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-3000:]}"
    return result


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def probe(binary: str, report: Path, spec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Open a probe copy of ``report`` (beside it, so relative links hold) and read its results."""
    text = report.read_text(encoding="utf-8")
    head = '<meta charset="utf-8">'
    assert text.count(head) == 1 and text.count("</body>") == 1
    copy = report.with_name(".probe_" + report.name)
    copy.write_text(
        text.replace(head, head + HOOK).replace(
            "</body>", PROBE.replace("__SPEC__", json.dumps(spec)) + "</body>"
        ),
        encoding="utf-8",
    )
    result = _run(binary, tmp_path / "profile-probe", "--dump-dom", copy.as_uri())
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not run:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    found = json.loads(html.unescape(match.group(1)))
    found["console"] = _console_messages(result.stderr)
    return found


def screenshot(binary: str, report: Path, path: Path, tmp_path: Path) -> Path:
    result = _run(
        binary,
        tmp_path / "profile-shot",
        f"--screenshot={path}",
        "--window-size=1280,900",
        report.as_uri(),
    )
    assert not _console_messages(result.stderr), _console_messages(result.stderr)
    info = png_info(path)
    assert info is not None and (info.width, info.height) == (1280, 900), info
    return path


def _expected(keys: list[str], numeric: bool, descending: bool) -> list[str]:
    """The order the page's script promises: by value, ties as they were, blanks last."""
    convert = float if numeric else str.lower
    present = sorted((k for k in keys if k != ""), key=convert, reverse=descending)
    return present + [k for k in keys if k == ""]


def _check_loaded_cleanly(found: dict[str, Any]) -> None:
    assert found["errors"] == [], found["errors"]
    assert found["console"] == [], found["console"]
    assert all(r.startswith(("file:", "data:")) for r in found["resources"]), found["resources"]
    for image in found["images"]:
        assert image["complete"] and image["width"] > 0, f"not decoded: {image['src']}"


def _check_sorted(found: dict[str, Any], numeric: set[str]) -> None:
    for item in found["sorts"]:
        is_number = item["label"] in numeric
        assert item["states"] == ["ascending", "descending"], item
        assert item["ascending"] == _expected(item["before"], is_number, False), item
        assert item["descending"] == _expected(item["before"], is_number, True), item


def test_segmentation_report_in_chromium(chromium, tmp_path, record_screenshot):
    folder = tmp_path / "segmentation"
    write_segmentation_folder(folder)  # the broken scan is the 5th in the manifest
    report = write_segmentation_report(folder)
    spec = {"table": "scans", "name": "scan", "sort": ["scan", "Left-Putamen"]}
    found = probe(chromium, report, spec, tmp_path)
    _check_loaded_cleanly(found)
    assert len(found["images"]) == 7 and {Path(i["src"]).name for i in found["images"]} >= {
        "Mosaic_sub-07_T1w.png"
    }
    assert found["first"] == {"key": "sub-07_T1w.nii.gz", "flagged": True}
    _check_sorted(found, numeric={"Left-Putamen"})
    putamen = next(s for s in found["sorts"] if s["label"] == "Left-Putamen")
    assert putamen["ascending"][0] == "0.0"  # the missing structure
    assert found["shownWhenFiltered"] == 2  # "flagged scans only"
    record_screenshot(screenshot(chromium, report, tmp_path / "segmentation_report.png", tmp_path))


def test_training_report_in_chromium(chromium, trained_run, tmp_path, record_screenshot):
    report = trained_run / "report.html"
    spec = {"table": "epochs", "name": "epoch", "sort": ["loss", "epoch"]}
    found = probe(chromium, report, spec, tmp_path)
    _check_loaded_cleanly(found)
    assert found["images"] == [] and len(found["charts"]) == 4
    assert all(width > 100 for width in found["charts"])
    _check_sorted(found, numeric={"loss", "epoch"})
    loss = next(s for s in found["sorts"] if s["label"] == "loss")
    assert loss["before"] != loss["ascending"]  # losses fell: ascending reverses the epochs
    record_screenshot(screenshot(chromium, report, tmp_path / "training_report.png", tmp_path))
