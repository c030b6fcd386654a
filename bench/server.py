"""The real app and a bare Starlette endpoint, each on its own uvicorn in a thread of this process.

In-process so the benchmark can read the app's own counters (`shared.store.writes`) and run
setup code on the server's event loop (the database engine belongs to that loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, TypeVar

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tests.servers import free_port

from portal import tabs
from portal.base import logs
from portal.base.settings import Settings
from portal.domain.accounts import Account
from portal.domain.devices import UNKNOWN_BROWSER, Browser, from_timestamp
from portal.flows.devices.service import SignedIn
from portal.flows.passkeys import service as passkey_service
from portal.flows.password.routes import form_context
from portal.phone.view import shell_context
from portal.tabs.tab import TAB_FRAGMENT
from portal.web import csrf
from portal.web.shared import STATE_KEY, Shared
from portal.web.templating import make_templates, render

T = TypeVar("T")


def uvicorn_config(app: Starlette, port: int) -> uvicorn.Config:
    """What `portal serve` passes to uvicorn (src/portal/cli.py), for both servers alike."""
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        proxy_headers=False,
        access_log=False,
        server_header=False,
        log_level="warning",
        log_config=None,
    )


@dataclass
class Served:
    base: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def stack(self) -> str:
        """What uvicorn's "auto" settings picked on this machine, as `portal serve` gets them."""
        protocol = self.server.config.http_protocol_class
        parser = {"HttpToolsProtocol": "httptools", "H11Protocol": "h11"}.get(
            getattr(protocol, "__name__", ""), str(protocol)
        )
        loop = type(self.loop).__module__.split(".")[0] if self.loop else "?"
        return f"uvicorn {uvicorn.__version__}, {parser} parser, {loop} loop"

    @property
    def shared(self) -> Shared:
        shared: Shared = self.app.state.shared
        return shared

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 600) -> T:
        """Run `coro` on the server's event loop and wait for it."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def serve(app: Starlette) -> Iterator[Served]:
    """`app` on a free loopback port until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, port))
    served = Served(f"http://127.0.0.1:{port}", app, server, threading.Thread())

    def run() -> None:
        async def main() -> None:
            served.loop = asyncio.get_running_loop()
            await server.serve()

        # The event loop `portal serve` gets from uvicorn (uvloop when installed).
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(main())

    served.thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    served.thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not served.thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield served
    finally:
        server.should_exit = True
        served.thread.join(15)


def bare_app(settings: Settings) -> Starlette:
    """The floor: the cheapest Starlette endpoint there is, no middleware.

    Beside it, `/render`: the settings tab's fragment rendered from the portal's own templates
    with nothing else (no session, database, middleware or log line), what a tab partial could
    reach if all of those cost nothing.
    """
    templates = make_templates(
        tabs=tabs.TABS,
        context_processors=[shell_context],
        brand=settings.brand,
        passkeys=settings.passkey_rp_id is not None,
    )
    account = Account(1, "201", "Floor", "floor", "Floor", "stamp")
    # The data the tab reads, fixed: its own session as the one row of Where You're Signed In
    # (the benchmark's user is signed in nowhere else, from a client no parser names) and,
    # where passkeys are on, none yet, its password checked moments ago (no field to confirm).
    now = from_timestamp(time.time())
    client = Browser(UNKNOWN_BROWSER, "")
    this_device = SignedIn("0" * 32, client, "127.0.0.1", now, now, current=True)
    context: dict[str, Any] = {
        **form_context(settings),
        "signed_in": [this_device],
        "sessions_message": None,
        "sessions_error": False,
        **passkey_service.section_values([], reverify=False),
        "passkeys_available": settings.passkey_rp_id is not None,
    }

    async def bare(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def rendered(request: Request) -> Response:
        request.scope["session"] = {csrf.SESSION_KEY: "floor-token"}
        request.state.account = account
        return render(request, "settings.html", context, fragment=TAB_FRAGMENT)

    shared = SimpleNamespace(settings=settings, templates=templates)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        yield {STATE_KEY: shared}

    return Starlette(routes=[Route("/bare", bare), Route("/render", rendered)], lifespan=lifespan)


def floor_from_env() -> Starlette:
    """The floor's app as a factory, for a server in another process (`--servers`)."""
    return bare_app(Settings.from_env())


class AccessRecord(NamedTuple):
    method: str
    path: str
    status: int
    ms: float


class AccessCapture(logging.Handler):
    """Keeps the app's own access-log timings (portal.access): server time, not client time."""

    def __init__(self) -> None:
        super().__init__()
        # Plain tuples: the collector stops tracking those (not a NamedTuple's), so that the
        # hundreds of thousands a run keeps in the server's process do not lengthen its full
        # collections. As objects they did, by up to 120 ms: case 5's tab p99.
        self.records: list[tuple[str, str, int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _, method, path, status, ms = args
            self.records.append((str(method), str(path), int(str(status)), float(str(ms))))

    def since(self, start: int, method: str, path: str) -> list[AccessRecord]:
        found = (r for r in self.records[start:] if r[0] == method and r[1] == path)
        return [AccessRecord(*r) for r in found]


def production_logging(log_path: Path) -> AccessCapture:
    """Log as `portal serve` does (JSON lines, every request), into a file instead of stderr."""
    logs.configure(json_lines=True)
    root = logging.getLogger()
    stream_handler = root.handlers[0]
    assert isinstance(stream_handler, logging.StreamHandler)
    stream_handler.setStream(log_path.open("a"))  # lives as long as the run
    capture = AccessCapture()
    logging.getLogger("portal.access").addHandler(capture)
    return capture


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while httpx2.get(base + "/healthz", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} is not healthy")
        time.sleep(0.2)
