"""Render a report page in headless Chromium and fail on a broken image or a sideways scrollbar.

``python3 -m reports.browser_check results/default/report/report.html`` prints what it found and
exits 1 when an image does not load or the page is wider than the window (1,280 px unless
``--width``), 2 when Chromium is not there. The page is copied beside itself with a small script that
loads every image, measures the page and writes the result into the DOM, which Chromium's
``--dump-dom`` prints; the copy is removed afterwards. Imports no JAX (only the standard library).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 900
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync")
RESULT_ID = "browser-check-result"
# Lazy images below the fold would never load in a headless window: load all, then measure the page
# (before the result is added to it, so the result cannot widen it).
PROBE = """<script>
(function () {
  var images = Array.prototype.slice.call(document.images);
  images.forEach(function (image) { image.loading = "eager"; });
  function report() {
    var root = document.documentElement;
    var result = {
      images: images.length,
      broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                    .map(function (i) { return i.getAttribute("src"); }),
      scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth),
      clientWidth: root.clientWidth,
      wide: Array.prototype.slice.call(document.querySelectorAll("body *"))
              .filter(function (e) { return e.getBoundingClientRect().right > root.clientWidth + 1; })
              .slice(0, 5).map(function (e) { return e.tagName.toLowerCase() + (e.id ? "#" + e.id : ""); })
    };
    var out = document.createElement("pre");
    out.id = "%s";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  }
  Promise.all(images.map(function (i) {
    return i.complete ? null : new Promise(function (done) { i.onload = done; i.onerror = done; });
  })).then(report);
})();
</script>""" % RESULT_ID


def chromium_path() -> str | None:
    """Chromium's executable: /usr/bin/chromium, or one named chromium/chromium-browser on PATH."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_files(page: Path) -> list[str]:
    """Relative links and image sources of ``page`` (PNG shown, SVG linked) that name no file."""
    text = page.read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"#:]+)"', text)
    return [link for link in dict.fromkeys(links) if not (page.parent / link).is_file()]


def render(page: Path, width: int = WIDTH, height: int = HEIGHT, timeout: float = 90.0,
           chromium: str | None = None) -> dict:
    """What the page looks like to Chromium at ``width`` px: images, broken ones, widths."""
    chromium = chromium or chromium_path()
    if chromium is None:
        raise FileNotFoundError("no Chromium: install it (apt-get install -y chromium)")
    page = Path(page).resolve()
    html = page.read_text(encoding="utf-8")
    html = html.replace("</body>", PROBE + "</body>") if "</body>" in html else html + PROBE
    probe = page.with_name(f".browser_check_{os.getpid()}.html")  # beside the page: its links resolve
    probe.write_text(html, encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory(prefix="browser-check-") as profile:
            done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}",
                                   f"--window-size={width},{height}", "--hide-scrollbars",
                                   "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                                  capture_output=True, text=True, timeout=timeout)
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise RuntimeError(f"Chromium gave no result (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    import html as html_module

    return json.loads(html_module.unescape(found.group(1)))


def problems(page: Path, width: int = WIDTH) -> list[str]:
    """Everything wrong with ``page`` at ``width`` px; empty when it is fine."""
    found = [f"missing file: {link}" for link in missing_files(Path(page))]
    result = render(Path(page), width)
    found += [f"broken image: {src}" for src in result["broken"]]
    if result["scrollWidth"] > result["clientWidth"]:
        found.append(f"horizontal scrollbar at {width} px: the page is {result['scrollWidth']} px wide"
                     f" (widest: {', '.join(result['wide']) or '?'})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m reports.browser_check", description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="+", type=Path, help="report.html (or compare.html) files")
    parser.add_argument("--width", type=int, default=WIDTH, help=f"window width in px (default {WIDTH})")
    args = parser.parse_args(argv)
    missing = [str(page) for page in args.pages if not page.is_file()]
    if missing:
        print(f"browser_check: no such file: {', '.join(missing)}; give report.html or compare.html"
              " files", file=sys.stderr)
        return 2
    if chromium_path() is None:
        print("browser_check: no Chromium (apt-get install -y chromium)", file=sys.stderr)
        return 2
    failed = False
    for page in args.pages:
        found = problems(page, args.width)
        failed |= bool(found)
        print(f"{page}: " + ("ok" if not found else "; ".join(found)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
