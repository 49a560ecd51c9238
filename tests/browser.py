"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no
WebSocket, no driver to install. Tests open pages, run JavaScript in them and take screenshots."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 60.0  # seconds for one page to answer, on a loaded machine


def find_chromium() -> str | None:
    chosen = os.environ.get("PODEPLOY_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Browser:
    """One headless Chromium with one page; close() ends it."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="podeploy-browser-")
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def wire() -> None:  # the protocol's descriptors are 3 (commands) and 4 (answers)
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [
                executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                "--window-size=1280,900", "about:blank",
            ],
            close_fds=False,  # the pipes are close-on-exec; only 3 and 4, made by wire(), reach Chromium
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": self.profile},
        )  # fmt: skip
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return dict(answer.get("result", {}))
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        raise TimeoutError(method)

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        self.wait_loaded()

    def wait_loaded(self, previous: str | None = None) -> None:
        """Until the page (a new one, when `previous` is the marker of the old) has loaded."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            state = self.js("document.readyState + '|' + (window.__marker || '')")
            if state is not None and state.startswith("complete") and (previous is None or state != previous):
                self.js("window.__marker = String(Math.random())")
                return
            time.sleep(0.05)
        raise TimeoutError("page load")

    def click(self, selector: str) -> None:
        """Click the element and wait for the page it leads to."""
        marker = "complete|" + str(self.js("window.__marker || ''"))
        found = self.js(f"(function(){{var e=document.querySelector({json.dumps(selector)});"
                        "if(!e){return false;} e.click(); return true;})()")
        if not found:
            raise AssertionError(f"no element {selector} on {self.js('location.href')}")
        self.wait_loaded(marker)

    def press(self, key: str) -> None:
        """Press a key on the page (as its keyboard handler sees it) and wait for the page it leads to."""
        marker = "complete|" + str(self.js("window.__marker || ''"))
        self.js(f"document.dispatchEvent(new KeyboardEvent('keydown', {{key: {json.dumps(key)}}}))")
        self.wait_loaded(marker)

    def text(self, selector: str = "body") -> str:
        return str(self.js(f"(document.querySelector({json.dumps(selector)})||{{innerText:''}}).innerText"))

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)
        shutil.rmtree(self.profile, ignore_errors=True)
