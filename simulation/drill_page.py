"""The status page in the drill: ``web/status/`` served by a local HTTP server wired to the drill's two regions, and
opened in headless Chromium at each phase (a screenshot, and what the page showed and allowed).

:class:`PageServer` serves the page's files with a ``config.json`` whose form posts directly (``events.mode``
``direct``) and hands ``/regions/<region>/...`` to that region's real API handler: the summary, an item, an event
(then it runs the region's queue once, as the event source mapping would, so the page can read the outcome back). A
region that is down answers nothing: the server closes the connection. The world is touched under one lock, and only
while :class:`PageCamera` has the page open, between the drill's ticks. Why: docs/design/status-page.md.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.status_page import CONFIG_FILE, content_type, page_config, page_files
from simulation.drill_world import REGIONS, Region, World

if TYPE_CHECKING:
    from simulation.browser import Browser

REGION_PATH = re.compile(r"^/regions/(?P<region>[a-z0-9-]+)(?P<rest>/.*)$")
# The phases the page is opened at, and what the form does there (``send``: a new event; ``resend``: the same again).
PHASE_ACTIONS: dict[str, tuple[str, ...]] = {
    "steady": ("send", "resend"),
    "outage": ("send",),
    "switchover": ("send",),
    "failover": ("send",),
    "healed": ("send",),
}
PAGE_WIDTH, PAGE_HEIGHT = 1100, 760
WAIT_MS = 15_000

# Wait for the page's first look at every region.
_FIRST_REFRESH = f"""new Promise((done, fail) => {{
  const deadline = Date.now() + {WAIT_MS};
  (function poll() {{
    if (Number(document.body.dataset.refreshes || 0) >= 1) return done(true);
    if (Date.now() > deadline) return fail(new Error('the page never refreshed'));
    setTimeout(poll, 25);
  }})();
}})"""
# Press a button of the form and wait for the outcome it shows: {{kind, text}}.
_PRESS = """(async (id) => {
  const outcome = document.getElementById('outcome');
  document.getElementById(id).click();
  const deadline = Date.now() + %d;
  while (Date.now() < deadline) {
    await new Promise(done => setTimeout(done, 25));
    if (outcome.dataset.outcome !== 'sending') return {kind: outcome.dataset.outcome, text: outcome.textContent};
  }
  throw new Error('the form showed no outcome');
})(%s)"""
# What the page shows and allows, read from its DOM.
_FACTS = """(() => {
  const overall = document.getElementById('overall');
  const rows = Array.from(document.querySelectorAll('#regions tbody tr')).map(row => ({
    region: row.dataset.region, answered: row.className === 'answered',
    cells: Array.from(row.cells).map(c => c.textContent)}));
  const actions = {};
  document.querySelectorAll('#actions li').forEach(li => {
    actions[li.dataset.action] = {allowed: li.dataset.allowed === 'true', text: li.textContent}; });
  const moved = document.getElementById('moved');
  return {state: overall.dataset.state, degraded: overall.dataset.degraded === 'true', banner: overall.textContent,
    rows: rows, actions: actions, moved: moved.hidden ? null : document.getElementById('moved-text').textContent,
    sendDisabled: document.getElementById('send').disabled};
})()"""


class PageServer:
    """The page and the regions' APIs on ``127.0.0.1`` (a free port), until :meth:`close`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lock = threading.Lock()
        self.requests = 0
        files = {**page_files(), CONFIG_FILE: page_config(REGIONS, events_mode="direct")}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self, files)

            def do_POST(self) -> None:
                server.answer(self, files)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, name="drill-page", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()

    def answer(self, request: BaseHTTPRequestHandler, files: dict[str, str]) -> None:
        path = request.path.split("?", 1)[0]
        if request.command == "GET" and path.startswith("/status/") and path.removeprefix("/status/") in files:
            name = path.removeprefix("/status/")
            self._send(request, 200, {"content-type": content_type(name), "cache-control": "no-store"}, files[name])
            return
        found = REGION_PATH.match(path)
        if found is None or found["region"] not in self.world.regions:
            self._send(request, 404, {"content-type": "text/plain"}, f"no such path: {path}")
            return
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length).decode() if length else None
        with self.lock:
            self.requests += 1
            region = self.world.regions[found["region"]]
            if not region.up:
                request.close_connection = True  # a region that is down answers nothing
                return
            response = self._call(region, request.command, found["rest"], body)
        headers = {name.lower(): str(value) for name, value in response.get("headers", {}).items()}
        self._send(request, response["statusCode"], headers, response.get("body") or "")

    def _call(self, region: Region, method: str, rest: str, body: str | None) -> dict[str, Any]:
        """The region's real API handler for ``method rest``; after an accepted event, one run of the region's queue."""
        call = functools.partial(self.world.call_api, region, request_id=f"page-{self.requests}")
        if method == "GET" and rest == "/status":
            response = call("GET /regions/{region}/status", path_parameters={"region": region.name})
        elif method == "GET" and rest.startswith("/items/"):
            response = call("GET /items/{id}", item_id=rest.removeprefix("/items/"))
        elif method == "POST" and rest == "/events":
            response = call("POST /events", body=body or "")
        else:
            return {
                "statusCode": 404,
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"error": "not_found"}),
            }
        if response["statusCode"] == 202:
            region.may_have_messages = True
            self.world.pump(region)
        return response

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        request.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection"):
                request.send_header(name, value)
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


@dataclass(frozen=True)
class PageShot:
    """The page at one phase: its screenshot (a file name beside the report), what it showed, what the form got."""

    phase: str
    image: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "image": self.image, "facts": self.facts}


class PageCamera:
    """A Chromium page (:class:`simulation.browser.Browser`, the caller's, left open) and one :class:`PageServer` for
    a whole drill; ``capture`` at each phase of ``PHASE_ACTIONS`` writes ``status-<phase>.png`` into ``directory``."""

    def __init__(self, world: World, directory: Path, browser: Browser) -> None:
        self.directory = directory
        self.browser = browser
        self.server = PageServer(world)
        self.shots: list[PageShot] = []

    def capture(self, phase: str) -> PageShot:
        """Open the page, wait for its first look at the regions, press the phase's buttons, read the DOM, take the
        screenshot, and leave the page (so that it asks nothing while the drill runs on)."""
        browser = self.browser
        browser.resize(PAGE_WIDTH, PAGE_HEIGHT)
        browser.navigate(f"{self.server.url}/status/index.html")
        browser.evaluate(_FIRST_REFRESH)
        outcomes = [browser.evaluate(_PRESS % (WAIT_MS, json.dumps(action))) for action in PHASE_ACTIONS[phase]]
        facts = dict(browser.evaluate(_FACTS))
        facts["outcomes"] = outcomes
        image = browser.screenshot(self.directory / f"status-{phase}.png")
        browser.navigate("about:blank")
        shot = PageShot(phase, image.name, facts)
        self.shots.append(shot)
        return shot

    def close(self) -> None:
        self.server.close()
