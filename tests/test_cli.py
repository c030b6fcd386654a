"""The administrator's command line, through its entry point."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.settings import Settings
from portal.cli import main
from portal.phone.sipserver import available
from tests.conftest import Auth, csrf_from
from tests.servers import PORTAL, free_port, portal_command, portal_server


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `portal ARGS` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("PORTAL_REDIS_URL", raising=False)
    if settings.redis_url:  # as the server's: the commands that end sessions reach them there
        monkeypatch.setenv("PORTAL_REDIS_URL", settings.redis_url)
        monkeypatch.setenv("PORTAL_REDIS_PREFIX", settings.redis_prefix)

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_tenant_and_extension_add_then_sign_in(cli, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    assert cli("tenant", "add", "wickedsprockets", "--name", "Wicked Sprockets")[0] == 0
    code, out, err = cli(
        "extension", "add", "201-wickedsprockets", "--name", "Ada", "--email", "ada@example.com"
    )
    assert code == 0, err
    password = next(line for line in out.splitlines() if line.startswith("password: "))[10:]
    assert len(password) >= 16
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert Auth(client).login(password=password).headers["location"] == "/phone"


def test_password_stdin_is_used_exactly_and_not_printed(cli, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    cli("tenant", "add", "acme", "--name", "Acme")
    code, out, _ = cli(
        "extension", "add", "7-acme", "--name", "Bo", "--password-stdin", stdin=" spaced pass \n"
    )
    assert code == 0
    assert "spaced pass" not in out
    with TestClient(create_app(settings), follow_redirects=False) as client:
        auth = Auth(client)
        assert "Invalid" in auth.login("7-acme", "spaced pass").text  # never trimmed
        assert auth.login("7-acme", " spaced pass ").headers["location"] == "/phone"


def test_set_password_signs_out_and_prints_the_new_one(cli, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    cli("tenant", "add", "acme", "--name", "Acme")
    cli("extension", "add", "7-acme", "--name", "Bo", "--password-stdin", stdin="first password\n")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        auth = Auth(client)
        auth.login("7-acme", "first password")
        assert client.get("/phone").status_code == 200
        code, out, _ = cli("extension", "set-password", "7-acme")
        assert code == 0
        new = next(line for line in out.splitlines() if line.startswith("password: "))[10:]
        assert client.get("/phone").status_code == 303  # signed out
        assert auth.login("7-acme", new).headers["location"] == "/phone"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("tenant", "add", "Acme", "--name", "A"), None, "malformed tenant code"),
        (("tenant", "add", "9acme", "--name", "A"), None, "malformed tenant code"),
        (("tenant", "add", "a", "--name", "A"), None, "malformed tenant code"),
        (("tenant", "add", "a" * 33, "--name", "A"), None, "malformed tenant code"),
        (("tenant", "add", "acme", "--name", "A"), None, "already exists"),
        (("extension", "add", "7-nosuch", "--name", "B"), None, "unknown tenant"),
        (("extension", "add", "7-acme", "--name", "B"), None, "already exists"),
        (("extension", "add", "acme", "--name", "B"), None, "malformed extension"),
        (("extension", "add", "x7-acme", "--name", "B"), None, "malformed extension"),
        (("extension", "add", "8-acme", "--name", " "), None, "name cannot be empty"),
        (("extension", "add", "8-acme", "--name", "B", "--email", "nope"), None, "not an email"),
        (
            ("extension", "add", "8-acme", "--name", "B", "--password-stdin"),
            "short\n",
            "at least 8",
        ),
        (("extension", "add", "8-acme", "--name", "B", "--password-stdin"), "", "no password"),
        (("extension", "set-password", "9-acme"), None, "unknown extension"),
        (("extension", "set-password", "9-nosuch"), None, "unknown tenant"),
        (("extension", "set-password", "7-acme", "--password-stdin"), "1234567\n", "at least 8"),
        (("extension", "frobnicate"), None, "invalid choice"),
        (("serve", "--workers", "2"), None, "needs PORTAL_REDIS_URL"),
    ],
)
def test_mistakes_exit_non_zero_with_one_line(cli, args, stdin, message, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PORTAL_REDIS_URL", raising=False)  # `serve --workers 2` says it is needed
    cli("tenant", "add", "acme", "--name", "Acme")
    cli("extension", "add", "7-acme", "--name", "Bo", "--password-stdin", stdin="first password\n")
    code, _, err = cli(*args, stdin=stdin)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_db_upgrade_is_idempotent(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade")[0] == 0
    assert cli("db", "upgrade")[0] == 0


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed `portal` command, as an administrator's script would call it."""
    portal = Path(sys.executable).with_name("portal")
    env = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    steps = [
        ["db", "upgrade"],
        ["tenant", "add", "acme", "--name", "Acme"],
        ["tenant", "add", "acme", "--name", "Acme"],
    ]
    results = [
        subprocess.run([str(portal), *s], env=env, capture_output=True, text=True, check=False)
        for s in steps
    ]
    assert [r.returncode for r in results] == [0, 0, 1]
    assert results[2].stderr == "portal: tenant 'acme' already exists\n"


def test_serve_finishes_in_flight_requests_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM while sign-ins are in flight: each gets its answer, and each is recorded."""
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.db",
        "PORTAL_SECRET_KEY": "sigterm-test",
    }
    portal_command(env, "db", "upgrade")
    portal_command(env, "tenant", "add", "acme", "--name", "Acme")
    # Sixteen sign-ins hash one after another (about 0.3 s here): the signal, and uvicorn's
    # "Shutting down" up to 0.1 s after it, come well before the last answer.
    extensions, browsers = 8, 16
    for number in range(extensions):
        portal_command(
            env,
            *("extension", "add", f"{number}-acme", "--name", "A", "--password-stdin"),
            stdin="pass phrase 9\n",
        )
    ready = threading.Barrier(browsers + 1)
    statuses: list[int] = []

    def sign_in(base: str, number: int) -> None:
        with httpx2.Client(base_url=base, timeout=30) as browser:
            token = csrf_from(browser.get("/login").text)  # connected, before the signal
            ready.wait()
            answer = browser.post(
                "/login",
                data={
                    "username": f"{number % extensions}-acme",
                    "password": "pass phrase 9",
                    "csrf_token": token,
                },
            )
            statuses.append(answer.status_code)

    with portal_server(env, tmp_path / "server.log") as server:
        threads = [threading.Thread(target=sign_in, args=(server.base, n)) for n in range(browsers)]
        for thread in threads:
            thread.start()
        ready.wait()
        time.sleep(0.05)  # the POSTs are on the wire; sixteen verifies take far longer
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(30)
    assert statuses == [303] * browsers
    trail = portal_command(env, "audit")
    assert trail.count(" sign-in ") == browsers
    log = (tmp_path / "server.log").read_text()
    assert "Finished server process" in log
    # The signal really came mid-flight: answers were still being given after it.
    assert log.index("Shutting down") < log.rindex("sign-in success")


def test_demo_reload_is_the_designers_loop_in_one_command(tmp_path: Path) -> None:
    """`portal demo --reload`: demo data, the mail sink, the gallery and the reloader at once."""
    port, smtp = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTAL_SMTP_PORT=str(smtp),
        PORTAL_PASSWORD_MIN_LENGTH="8",
    )
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        demo = subprocess.Popen(
            [PORTAL, "demo", "--reload", "--port", str(port), "--sip-port", str(free_port())],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert demo.poll() is None, f"portal demo exited:\n{log_path.read_text()}"
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(base + "/login", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        assert "seeded demo tenant wickedsprockets" in log_path.read_text()
        assert httpx2.get(base + "/dev/mail").status_code == 200  # demo mode: the mail sink
        assert httpx2.get(base + "/-/patterns").status_code == 200
        # The server runs in a child of the reloader, which restarts it when code changes;
        # templates, CSS and JS are re-read on the next request (designer mode).
        served = re.search(r"Started server process \[(\d+)\]", log_path.read_text())
        assert served is not None
        assert int(served.group(1)) != demo.pid
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(15)


# --- the newcomer's path: ports in use, and the demo's passwords ------------------------------

DEMO_SIP = {  # an operator's phone system: the demo starts no Kamailio of its own
    "PORTAL_SIP_WS_URL": "ws://127.0.0.1:9",
    "PORTAL_SIP_DOMAIN": "localhost",
    "PORTAL_SIP_SECRET": "a-secret-of-sixteen-characters-or-more",
}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTAL_SMTP_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_portal(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`portal ARGS` to its end, its output captured."""
    return subprocess.run(
        [PORTAL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("command", "busy", "whose", "how"),
    [
        ("serve", "portal", "the portal", "--port"),
        ("serve-demo", "mail", "its mail sink", "PORTAL_SMTP_PORT"),
        ("demo", "portal", "the portal", "--port"),
        ("demo", "mail", "its mail sink", "PORTAL_SMTP_PORT"),
        ("demo", "sip", "the demo's Kamailio", "--sip-port"),
    ],
)
def test_a_port_in_use_is_one_line_naming_it_and_how_to_change_it(
    tmp_path: Path, command: str, busy: str, whose: str, how: str
) -> None:
    if busy == "sip" and (reason := available()):
        pytest.skip(f"the demo starts no Kamailio here: {reason}")
    env = clean_env(tmp_path, PORTAL_SECRET_KEY="port-test")
    ports = {"portal": free_port(), "sip": free_port()}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if busy == "mail":
            env["PORTAL_SMTP_PORT"] = str(port)
        else:
            ports[busy] = port
        args = ["serve", "--port", str(ports["portal"])]
        if command == "serve-demo":
            env["PORTAL_DEMO"] = "1"
        elif command == "demo":
            args = ["demo", "--port", str(ports["portal"]), "--sip-port", str(ports["sip"])]
        done = run_portal(args, tmp_path, env)
    assert done.returncode == 1
    assert done.stderr == (
        f"portal: port {port} on 127.0.0.1 is already in use: choose another for {whose} with"
        f" {how}\n"
    )
    assert "serving" not in done.stdout
    assert not (tmp_path / "portal.db").exists()  # nothing was started or changed first


def run_demo(env: dict[str, str], cwd: Path, log_path: Path) -> str:
    """`portal demo` until it answers, then stopped; returns what it printed."""
    port = free_port()
    with log_path.open("w") as log:
        demo = subprocess.Popen(
            [PORTAL, "demo", "--port", str(port), "--sip-port", str(free_port())],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert demo.poll() is None, f"portal demo exited:\n{log_path.read_text()}"
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(15)
    return log_path.read_text()


def password_of_201(printed: str) -> str:
    found = re.search(r"^  201-wickedsprockets  password: (\S+)  ", printed, re.MULTILINE)
    assert found, printed
    return found.group(1)


def signs_in(base: str, password: str) -> bool:
    with httpx2.Client(base_url=base, timeout=30) as browser:
        token = csrf_from(browser.get("/login").text)
        answer = browser.post(
            "/login",
            data={"username": "201-wickedsprockets", "password": password, "csrf_token": token},
        )
        assert answer.status_code in (200, 303), answer.text
        return answer.status_code == 303


def test_the_demo_run_again_names_the_command_that_resets_its_passwords(tmp_path: Path) -> None:
    env = clean_env(tmp_path, **DEMO_SIP)

    # Before the demo has seeded anything, there is nothing to reset: one clear line.
    refused = run_portal(["demo", "--reset-passwords"], tmp_path, env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("portal: no demo extension 201-wickedsprockets")
    assert refused.stderr.count("\n") == 1

    first = password_of_201(run_demo(env, tmp_path, tmp_path / "first.log"))
    again = run_demo(env, tmp_path, tmp_path / "again.log")
    assert "password:" not in again
    assert f"To set new ones and see them: {PORTAL} demo --reset-passwords" in again

    reset = run_portal(["demo", "--reset-passwords"], tmp_path, env)
    assert reset.returncode == 0, reset.stderr
    new = password_of_201(reset.stdout)
    assert "202-wickedsprockets  password: " in reset.stdout
    assert new != first
    assert "serving" not in reset.stdout  # it resets and exits

    serving = {k: v for k, v in env.items() if k != "PORTAL_SMTP_PORT"}
    with portal_server({**serving, "PORTAL_SECRET_KEY": "reset-test"}, tmp_path / "s.log") as s:
        assert not signs_in(s.base, first)
        assert signs_in(s.base, new)
