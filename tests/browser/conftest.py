"""Real-browser fixtures: the real server in a subprocess, and Debian's Chromium via Playwright.

- `start_server(idle_seconds=..., mail=...)` migrates a fresh SQLite database, adds the tenant
  `wickedsprockets` and the extension `201-wickedsprockets` with the CLI, runs `portal serve` on a
  free port and waits for `/healthz`. `server` is the session's default one. With `mail=True` the
  extension has the address ada@example.com and the server's mail goes to `server.sink`, a real
  SMTP server (tests/smtp.py) in this process; `mail_server` is a fresh one of those per test,
  for tests that change the password.
- `browser` is one headless Chromium for the session (no `playwright install`: it drives
  /usr/bin/chromium, or $PORTAL_TEST_CHROMIUM). Without it these tests skip loudly; under CI=true
  they fail.
- `pages.new_page(...)` opens a fresh context+page (`java_script_enabled=False`: one without
  JavaScript); `page` is one at 1280x800 on `server`. Every page's console errors, uncaught
  exceptions, CSP violations and 5xx responses are collected, and the test errors at teardown if
  there were any: the CSP allows no inline code.
  `pages.allow(text)` excuses one expected line, like Chromium's note on a deliberate 410.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.smtp import TestSink

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "201-wickedsprockets"
PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.com"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
STARTUP_SECONDS = 30.0
EXPECT_TIMEOUT_MS = 10_000

# Reports CSP violations as console errors even where Chromium would only count them; added
# through the DevTools protocol, so the page's own CSP does not apply to it.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || location.href}:${e.lineNumber}`);
});
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder drives a browser: mark it so `-m "not browser"` skips it."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}. Install it (apt-get install chromium) to run these")


# --- the server -------------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    idle_seconds: int | None
    process: subprocess.Popen[bytes]
    log_path: Path
    username: str = USERNAME
    password: str = PASSWORD  # a test that changes it updates this
    sink: TestSink | None = None  # where its mail goes, when started with mail=True

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self, last: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-last:]

    def stop(self) -> None:
        """Stop the server, then its mail sink; safe to call twice."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.sink is not None:
            self.sink.stop()


def portal_command() -> list[str]:
    script = Path(sys.executable).with_name("portal")
    return [str(script)] if script.exists() else [sys.executable, "-m", "portal"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [*portal_command(), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`portal {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()}")


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"`portal serve` exited {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url("/healthz"), timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:  # not listening yet (URLError is an OSError too)
            pass
        time.sleep(0.1)
    pytest.fail(f"`portal serve` not healthy after {STARTUP_SECONDS:.0f}s:\n{server.log()}")


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """A factory: `start_server(idle_seconds=4)` serves a fresh database with one extension;
    `start_server(mail=True)` also gives it an email address and a mail sink (`server.sink`);
    `extra_env` adds settings (e.g. PORTAL_RELOAD_TEMPLATES, which mounts the gallery);
    `hostname="localhost"` serves it under a domain name, which passkeys need."""
    started: list[tuple[Server, Any]] = []

    def start(
        *,
        idle_seconds: int | None = None,
        mail: bool = False,
        extra_env: dict[str, str] | None = None,
        hostname: str = "127.0.0.1",
    ) -> Server:
        workdir = tmp_path_factory.mktemp("server")
        port = free_port()
        sink: TestSink | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(
            PORTAL_DATABASE_URL=f"sqlite:///{workdir / 'portal.db'}",
            PORTAL_SECRET_KEY=secrets.token_urlsafe(32),
            PORTAL_BASE_URL=f"http://{hostname}:{port}",
        )
        env.update(extra_env or {})
        if idle_seconds is not None:
            env["PORTAL_SESSION_IDLE_SECONDS"] = str(idle_seconds)
        if mail:
            sink = TestSink(free_port())
            env.update(
                PORTAL_SMTP_HOST="127.0.0.1",
                PORTAL_SMTP_PORT=str(sink.port),
                PORTAL_MAIL_POLL_SECONDS="0.2",
            )
        cli(env, "db", "upgrade")
        cli(env, "tenant", "add", "wickedsprockets", "--name", "Wicked Sprockets")
        cli(
            env,
            "extension",
            "add",
            USERNAME,
            "--name",
            "Ada Lovelace",
            *(["--email", EMAIL] if mail else []),
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        if sink is not None:
            sink.start()
        log_path = workdir / "server.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [*portal_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        server = Server(env["PORTAL_BASE_URL"], idle_seconds, process, log_path, sink=sink)
        started.append((server, log_file))
        wait_healthy(server)
        return server

    yield start

    for server, log_file in started:
        server.stop()
        log_file.close()


@pytest.fixture(scope="session")
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()


@pytest.fixture
def mail_server(start_server: Callable[..., Server]) -> Iterator[Server]:
    """A server of this test's own, so it may change the password; its mail goes to `.sink`."""
    own = start_server(mail=True)
    yield own
    own.stop()


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is missing ({exc})")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as exc:
            unavailable(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@dataclass
class Pages:
    """Opens pages for one test and gathers what went wrong in any of them."""

    browser: Any
    server: Server
    problems: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        """Excuse problems containing `text`: Chromium logs every 4xx page load as an error."""
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(text in p for text in self.allowed)]

    def new_page(
        self,
        *,
        viewport: dict[str, int] = DESKTOP,
        server: Server | None = None,
        java_script_enabled: bool = True,
    ) -> Any:
        context = self.browser.new_context(
            viewport=viewport,
            base_url=(server or self.server).base_url,
            java_script_enabled=java_script_enabled,
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        context.add_init_script(CSP_WATCH)
        self.contexts.append(context)
        page = context.new_page()
        self.watch(page)
        return page

    def watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            if message.type == "error":
                where = message.location
                self.problems.append(
                    f"console error on {page.url}: {message.text}"
                    f" ({where.get('url')}:{where.get('lineNumber')})"
                )

        def on_page_error(error: Any) -> None:
            self.problems.append(f"uncaught exception on {page.url}: {error}")

        def on_response(response: Any) -> None:
            if response.status >= 500:
                self.problems.append(f"HTTP {response.status} for {response.url}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("response", on_response)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(
    browser: Any, server: Server, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Pages]:
    opened = Pages(browser, server)
    yield opened
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        for number, context in enumerate(opened.contexts):
            for index, page in enumerate(context.pages):
                path = tmp_path / f"failed-{number}-{index}.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of the failed page: {path}")
    opened.close()
    if problems := opened.unexpected():
        report = "\n".join(f"  - {p}" for p in problems)
        if call is not None and call.failed:
            print(f"browser problems during the failed test:\n{report}")
        else:
            pytest.fail(f"the browser reported problems (CSP or script errors?):\n{report}")


@pytest.fixture
def page(pages: Pages) -> Any:
    """A fresh desktop-sized page on the default server."""
    return pages.new_page()


# --- accessibility: axe-core and the screenshots ----------------------------------------------

AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

AXE_RUN = """tags => axe.run(document, {runOnly: tags}).then(result => result.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
  nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary})),
})))"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source, pinned in tests/browser/package-lock.json (`make node-deps`)."""
    if not AXE_JS.exists():
        message = f"axe-core is not installed at {AXE_JS}"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(f"SKIPPED LOUDLY: {message}. Run `make node-deps` (npm ci in tests/browser)")
    return AXE_JS.read_text()


def axe_violations(page: Any, axe_source: str) -> list[str]:
    """axe-core's WCAG 2.2 A/AA findings on the page as it is now, one readable block each.

    `evaluate` runs outside the page's CSP, so axe needs no `bypass_csp` (which would also
    blind CSP_WATCH)."""
    if page.evaluate("typeof axe") == "undefined":
        page.evaluate(axe_source)
    found = page.evaluate(AXE_RUN, AXE_TAGS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} <{v['url']}>\n"
        + "\n".join(f"    at {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"])
        for v in found
    ]


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # caret="initial": hiding the caret leaves style="" on inputs, which htmx copies onto
    # swapped-in elements of the same id: a CSP violation the app never caused.
    page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


# --- flows shared by the look-and-feel tests --------------------------------------------------


def sign_in(page: Any, server: Server, password: str | None = None) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill(password or server.password)
    page.get_by_role("button", name="Sign In", exact=True).click()  # not "…with a Passkey"


def open_menu(page: Any) -> None:
    """At phone width the tabs and Sign out sit behind the Menu button; open it if shut."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


def sign_out(page: Any) -> None:
    open_menu(page)
    page.get_by_role("button", name="Sign Out", exact=True).click()  # not "Sign Out of …"
    page.wait_for_url(lambda url: "/login" in url)


# The softphone tests' fixtures (kamailio, portal, phones, sip_secret), shared by every
# tests/browser/test_phone*.py module; imported last, as tests/browser/phoning.py uses this one.
from tests.browser.phoning import kamailio, phones, portal, sip_secret  # noqa: E402, F401
