"""The report's pages in a real headless Chromium, driven over the DevTools protocol: the
viewport is set to exactly 1400 x 900 (a command-line window of that size lays pages out
shorter, less the window's chrome), console messages and uncaught exceptions are collected,
and the bounding boxes of the summary table and the first figure are read from the page.

Run as a script it takes a screenshot: ``python tests/test_report_browser.py PAGE.html
OUT.png [WIDTH HEIGHT] [--element CSS]`` (the screenshots in docs/screens/ are made so).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1400, 900

# the boxes the first-screen test measures (top, bottom, left, right, width)
_MEASURE = """(() => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                     return [r.top, r.bottom, r.left, r.right, r.width]; };
  return JSON.stringify({table: box(document.querySelector("table")),
    figure: box(document.querySelector("#plot") || document.querySelector("figure img")),
    plotted: document.querySelectorAll("#plot .main-svg").length,
    window: [innerWidth, innerHeight],
    scroll_width: document.documentElement.scrollWidth});
})()"""


class Page:
    """One Chromium page over ``--remote-debugging-pipe`` (no websocket client needed)."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT):
        self._profile = tempfile.mkdtemp(prefix="report-chromium-")
        ours_in, theirs_out = os.pipe()   # Chromium writes fd 4 -> we read
        theirs_in, ours_out = os.pipe()   # we write -> Chromium reads fd 3

        def fds() -> None:
            os.dup2(theirs_in, 3)
            os.dup2(theirs_out, 4)

        # no network here: the background-networking flags keep Chromium from dialling out
        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             "about:blank"], pass_fds=(3, 4), preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(theirs_in)
        os.close(theirs_out)
        self._in, self._out, self._buffer, self._id = ours_in, ours_out, b"", 0
        self.events: list[dict[str, Any]] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=page,
                                  flatten=True)["sessionId"]
        for domain in ("Runtime", "Page", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _next(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str, settle_s: float = 1.0) -> None:
        """Navigate and wait for the load event, then ``settle_s`` for scripts to draw."""
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in 60 s")
            self.events.append(self._next())
        time.sleep(settle_s)
        self.evaluate("0")  # collect what the page logged meanwhile

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and error log entries so far."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append((details.get("exception", {}).get("description")
                            or details.get("text", "exception"))[:300])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning",
                                                                              "assert"):
                out.append(json.dumps(params["args"])[:300])
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error",
                                                                             "warning"):
                out.append(params["entry"]["text"][:300])
        return out

    def screenshot(self, path: Path, selector: str | None = None) -> None:
        """The viewport, or the element ``selector`` (scrolled into view)."""
        params: dict[str, Any] = {"format": "png"}
        if selector:
            box = json.loads(self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                "e.scrollIntoView(); const r = e.getBoundingClientRect(); "
                "return JSON.stringify([r.x + scrollX, r.y + scrollY, r.width, r.height]); })()"))
            params.update(captureBeyondViewport=True, clip=dict(
                zip(("x", "y", "width", "height"), box, strict=True), scale=1))
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        try:
            self._proc.wait(timeout=30)
        finally:
            os.close(self._in)
            os.close(self._out)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_screen(page_file: Path) -> tuple[dict[str, Any], list[str]]:
    """(the layout at 1400 x 900, console errors) of a page."""
    with Page() as page:
        page.open(page_file.as_uri())
        return json.loads(page.evaluate(_MEASURE)), page.errors()


needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="needs chromium (apt-get install chromium)")


@pytest.mark.slow
@needs_chromium
def test_the_devtools_page_sees_errors_and_the_exact_viewport(tmp_path):
    """The checks can fail: a page with an error is caught, and the viewport is 1400 x 900."""
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><table><tr><td>x</td></tr></table>"
                      "<script>undefinedFunction();</script></body></html>")
    layout, errors = first_screen(broken)
    assert errors and "undefinedFunction" in " ".join(errors)
    assert layout["window"] == [WIDTH, HEIGHT] and layout["figure"] is None


def main(argv: list[str]) -> int:
    selector = None
    if "--element" in argv:
        at = argv.index("--element")
        selector, argv = argv[at + 1], argv[:at] + argv[at + 2:]
    page_file, out = Path(argv[0]).resolve(), Path(argv[1])
    width, height = (int(argv[2]), int(argv[3])) if len(argv) >= 4 else (WIDTH, HEIGHT)
    with Page(width, height) as page:
        page.open(page_file.as_uri())
        page.screenshot(out, selector)
        print(json.dumps({"layout": json.loads(page.evaluate(_MEASURE)),
                          "errors": page.errors()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
