"""The demo's mail catcher keeps what is sent to it; `/dev/mail` shows it with live links."""

from __future__ import annotations

import os
import smtplib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal.base.settings import Settings
from portal.dev import devmail
from portal.domain.mailsink import MailSink, links
from portal.web.shared import STATE_KEY
from portal.web.templating import make_templates
from tests.conftest import csrf_from
from tests.servers import PORTAL
from tests.smtp import TestSink, free_port


def send(port: int, subject: str, text: str, html: str | None = None) -> None:
    message = EmailMessage()
    message["From"] = "portal@example.net"
    message["To"] = "ada@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 02 Jun 2026 10:00:00 +0000"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(message)


def test_sink_keeps_what_smtplib_sends(smtp_sink: TestSink) -> None:
    send(smtp_sink.port, "Reset your password", "Go to https://x.test/r/1\n", "<p>Go</p>\n")

    [mail] = smtp_sink.messages
    assert mail.sender == "portal@example.net"
    assert mail.to == "ada@example.com" and mail.recipients == ("ada@example.com",)
    assert mail.subject == "Reset your password"
    assert mail.date == "Tue, 02 Jun 2026 10:00:00 +0000"
    assert mail.text == "Go to https://x.test/r/1\n"
    assert mail.html == "<p>Go</p>\n"


def test_sink_keeps_only_the_newest_messages_newest_first() -> None:
    sink = MailSink("127.0.0.1", free_port(), keep=2)
    sink.start()
    try:
        for number in range(3):
            send(sink.port, f"Message {number}", "text")
    finally:
        sink.stop()
    assert [mail.subject for mail in sink.messages] == ["Message 2", "Message 1"]


def test_a_stopped_sink_refuses_connections_and_listens_again_on_start(
    smtp_sink: TestSink,
) -> None:
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        send(smtp_sink.port, "Lost", "text")
    smtp_sink.start()
    send(smtp_sink.port, "Back", "text")
    assert [mail.subject for mail in smtp_sink.messages] == ["Back"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reset: http://127.0.0.1:8000/reset/abc_-1.", ["http://127.0.0.1:8000/reset/abc_-1"]),
        ("(see https://x.test/a?b=1&c=2), or", ["https://x.test/a?b=1&c=2"]),
        ('<a href="https://x.test/q">', ["https://x.test/q"]),
        ("javascript:alert(1) ftp://x.test/ mailto:a@b.test", []),
    ],
)
def test_links_are_http_urls_without_trailing_punctuation(text: str, expected: list[str]) -> None:
    assert links(text) == expected


@pytest.fixture
def page(smtp_sink: TestSink) -> Iterator[TestClient]:
    """Just the route, with the portal's templates and what the app shares holding the sink."""
    shared = SimpleNamespace(mail_sink=smtp_sink, settings=Settings(), templates=make_templates())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        yield {STATE_KEY: shared}

    app = Starlette(routes=devmail.routes, lifespan=lifespan)
    with TestClient(app) as client:
        yield client


def test_page_lists_mail_newest_first_with_clickable_links(
    page: TestClient, smtp_sink: TestSink
) -> None:
    send(smtp_sink.port, "Welcome", "Hello.\n")
    send(smtp_sink.port, "Reset your password", "Open http://127.0.0.1:8000/reset/t0k3n?a=1&b=2.\n")

    response = page.get("/dev/mail")

    assert response.status_code == 200
    html = response.text
    assert "Demo mode: mail sent by the portal lands here instead of real inboxes" in html
    assert html.index("Reset your password") < html.index("Welcome")
    assert "To ada@example.com" in html
    assert "Tue, 02 Jun 2026 10:00:00 +0000" in html
    link = "http://127.0.0.1:8000/reset/t0k3n?a=1&amp;b=2"
    assert f'<pre class="mail-body">Open <a href="{link}">{link}</a>.\n</pre>' in html


def test_page_escapes_whatever_the_mail_contains(page: TestClient, smtp_sink: TestSink) -> None:
    send(
        smtp_sink.port,
        "<script>alert(1)</script>",
        'Hi <img src=x onerror=alert(1)> https://x.test/"onmouseover="alert(1) javascript:x\n',
    )

    html = page.get("/dev/mail").text

    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://x.test/">https://x.test/</a>&#34;onmouseover=&#34;alert(1)' in html
    assert 'href="javascript' not in html


def test_page_says_when_nothing_has_arrived(page: TestClient) -> None:
    html = page.get("/dev/mail").text
    assert "No mail yet" in html


def test_htmx_refresh_gets_only_the_list(page: TestClient, smtp_sink: TestSink) -> None:
    send(smtp_sink.port, "Welcome", "Hello.\n")

    response = page.get("/dev/mail", headers={"HX-Request": "true"})

    assert response.text.lstrip().startswith('<section id="messages"')
    assert "Welcome" in response.text and "<html" not in response.text
    assert response.headers["Vary"] == "HX-Request"


def test_the_mail_page_does_not_exist_outside_demo_mode(client: TestClient) -> None:
    assert client.get("/dev/mail").status_code == 404


def test_a_newcomer_resets_201s_password_in_the_demo(tmp_path: Path) -> None:
    """`portal demo` as `make run` starts it: seed, sink, /dev/mail, the link, the new password."""
    port, smtp_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "PORTAL_SMTP_PORT": str(smtp_port),
    }
    with (tmp_path / "demo.log").open("w") as log:
        demo = subprocess.Popen(
            [PORTAL, "demo", "--port", str(port), "--sip-port", str(free_port())],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://localhost:{port}"  # the demo's base URL: a name, for passkeys
    try:
        with httpx2.Client(base_url=base, timeout=5, follow_redirects=False) as web:
            deadline = time.monotonic() + 30
            while True:
                assert demo.poll() is None, (tmp_path / "demo.log").read_text()
                try:
                    if web.get("/healthz").status_code == 200:
                        break
                except httpx2.HTTPError:
                    time.sleep(0.2)
                assert time.monotonic() < deadline, "the demo did not start"
            printed = (tmp_path / "demo.log").read_text()
            assert "201-wickedsprockets  password: " in printed
            assert "202-wickedsprockets  password: " in printed
            token = csrf_from(web.get("/forgot-password").text)
            web.post(
                "/forgot-password", data={"username": "201-wickedsprockets", "csrf_token": token}
            )
            deadline = time.monotonic() + 15
            while not (found := links(web.get("/dev/mail").text)):
                assert time.monotonic() < deadline, "no mail reached /dev/mail"
                time.sleep(0.2)
            reset = found[0].removeprefix(base)
            assert reset.startswith("/reset-password/")
            form = web.get(reset)
            done = web.post(
                reset,
                data={
                    "new_password": "my demo passphrase",
                    "confirm_password": "my demo passphrase",
                    "csrf_token": csrf_from(form.text),
                },
            )
            assert done.headers["location"] == "/login"
            token = csrf_from(web.get("/login").text)
            signed_in = web.post(
                "/login",
                data={
                    "username": "201-wickedsprockets",
                    "password": "my demo passphrase",
                    "csrf_token": token,
                },
            )
            assert signed_in.headers["location"] == "/phone"
    finally:
        demo.terminate()
        demo.wait(15)
