"""Headless Chromium driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``): no WebSocket library.

Chromium reads commands on file descriptor 3 and writes answers and events on 4, each a JSON object ending in a NUL
byte. :class:`Browser` starts one process, opens one page and offers what the drill needs of it: navigate, evaluate a
script (awaiting its promise), and a PNG screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking")
COMMAND_FDS = (3, 4)
HIGH_FD = 10
TIMEOUT_SECONDS = 30.0


class BrowserError(RuntimeError):
    """Chromium refused a command, a script threw, or Chromium went away."""


def chromium_binary() -> str | None:
    """Debian's ``chromium`` (what ``./run`` installs), or None when it is missing."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


class Browser:
    """One headless Chromium with one page, ``width`` x ``height`` pixels. Close it (or use it as a context manager).

    Example:
        >>> with Browser(chromium_binary()) as browser:
        ...     browser.navigate("http://127.0.0.1:8000/status/index.html")
        ...     browser.evaluate("document.title")
    """

    def __init__(self, binary: str, width: int = 1280, height: int = 900) -> None:
        to_chromium_read, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium_write = os.pipe()
        # Out of the way of 3 and 4, where the child must find them.
        child_read = fcntl.fcntl(to_chromium_read, fcntl.F_DUPFD, HIGH_FD)
        child_write = fcntl.fcntl(from_chromium_write, fcntl.F_DUPFD, HIGH_FD)
        os.close(to_chromium_read)
        os.close(from_chromium_write)

        def place_fds() -> None:
            os.dup2(child_read, COMMAND_FDS[0])
            os.dup2(child_write, COMMAND_FDS[1])

        self.process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"],
            pass_fds=COMMAND_FDS,
            preexec_fn=place_fds,  # noqa: PLW1509 - only dup2, before exec
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_read)
        os.close(child_write)
        self._buffer = b""
        self._next_id = 0
        try:
            target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.resize(width, height)
            self.command("Page.enable")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def command(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command on the page; its result."""
        return self._send(method, params, session=self._session)

    def resize(self, width: int, height: int) -> None:
        """The page's viewport, in CSS pixels."""
        screen = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.command("Emulation.setDeviceMetricsOverride", screen)

    def navigate(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        self.command("Page.navigate", {"url": url})
        self.evaluate("new Promise(done => document.readyState === 'complete' ? done() : addEventListener('load', done))")

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` on the page (a promise is awaited).

        Raises
        ------
        BrowserError
            The expression threw (or its promise was rejected).
        """
        result = self.command("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"script failed: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG at ``path`` of the page as laid out (the whole page; ``full_page=False``: the viewport only)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.command("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.command("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self._to_chromium, self._from_chromium):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                return dict(answer.get("result", {}))

    def _read(self, deadline: float) -> dict[str, Any]:
        """The next message (answers and events alike)."""
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise BrowserError("Chromium did not answer in time" if self.process.poll() is None else "Chromium exited")
            ready, _, _ = select.select([self._from_chromium], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
            if not ready:
                continue
            chunk = os.read(self._from_chromium, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))
