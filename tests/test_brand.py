"""The operator's branding (PORTAL_BRAND_*), robots.txt, page descriptions, and the emails as
a reader gets them: named after the brand, and one paragraph per line."""

from __future__ import annotations

import itertools
import re
import urllib.robotparser
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base import brand
from portal.base.settings import Settings, SettingsError
from portal.domain.mail import MailSender
from tests.conftest import Account, Auth, csrf_from, make_account_in
from tests.smtp import TestSink

CSS = Path(__file__).resolve().parents[1] / "static" / "css" / "portal.css"
LOGO = "https://cdn.example.com:8443/acme/logo.svg"
ACCENT = "#ffcc00"  # light: black text on it; as a link it must darken on the light theme
SENTENCE_END = re.compile(r"[.!?:)]$")


@pytest.fixture
def settings(settings: Settings, smtp_sink: TestSink) -> Settings:
    """Mail goes to the test's own SMTP server (aiosmtpd), quickly."""
    return replace(settings, smtp_port=smtp_sink.port, mail_poll_seconds=0.05)


@pytest.fixture
def branded(settings: Settings) -> Iterator[TestClient]:
    """The portal named "Acme Phones", with an accent and a logo on another site (use it
    instead of `client`, never beside it: two apps would race for the outbox)."""
    settings = replace(settings, brand_name="Acme Phones", brand_accent=ACCENT, brand_logo_url=LOGO)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


# --- the settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORTAL_BRAND_ACCENT": "red"}, "PORTAL_BRAND_ACCENT must be a CSS hex colour"),
        ({"PORTAL_BRAND_ACCENT": "#12345"}, "PORTAL_BRAND_ACCENT"),
        ({"PORTAL_BRAND_ACCENT": "#0a7d4f;}body{x:y"}, "PORTAL_BRAND_ACCENT"),
        ({"PORTAL_BRAND_LOGO_URL": "javascript:alert(1)"}, "PORTAL_BRAND_LOGO_URL"),
        ({"PORTAL_BRAND_LOGO_URL": "data:image/svg+xml,<svg/>"}, "PORTAL_BRAND_LOGO_URL"),
        ({"PORTAL_BRAND_LOGO_URL": "//cdn.example.com/logo.svg"}, "PORTAL_BRAND_LOGO_URL"),
        ({"PORTAL_BRAND_LOGO_URL": "logo.svg"}, "PORTAL_BRAND_LOGO_URL"),
        ({"PORTAL_BRAND_LOGO_URL": "https://user:pw@cdn.example.com/l.svg"}, "PORTAL_BRAND_LOGO"),
        ({"PORTAL_BRAND_LOGO_URL": 'https://cdn.example.com/" onerror="x'}, "PORTAL_BRAND_LOGO"),
        ({"PORTAL_BRAND_NAME": "  "}, "PORTAL_BRAND_NAME"),
        # The name goes into the mail's headers: a line break would add one.
        ({"PORTAL_BRAND_NAME": "Acme\r\nBcc: all@example.com"}, "PORTAL_BRAND_NAME"),
    ],
)
def test_unusable_branding_is_refused_at_start_naming_the_setting(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"PORTAL_SECRET_KEY": "k", **env})


def test_branding_defaults_and_accepted_values() -> None:
    assert Settings.from_env({}).brand == brand.Brand("Phone Portal", None, None)
    read = Settings.from_env(
        {
            "PORTAL_BRAND_NAME": " Acme Phones ",
            "PORTAL_BRAND_ACCENT": "#0AF",
            "PORTAL_BRAND_LOGO_URL": "/static/acme.svg",
        }
    ).brand
    assert read == brand.Brand("Acme Phones", "#00aaff", "/static/acme.svg")
    assert read.logo_origins == ()  # a path is this site: 'self' covers it


# Every 17th step of each channel: 4,096 colours across the whole cube, corners included.
SWEEP = [
    f"#{red:02x}{green:02x}{blue:02x}"
    for red, green, blue in itertools.product(range(0, 256, 17), repeat=3)
]


def test_text_on_any_accent_reads_at_aa() -> None:
    """Black or white, whichever is better, always reaches 4.5:1: the worst colour still gives
    √21 ≈ 4.58 (so no accent is refused for it)."""
    worst = min(brand.contrast(accent, brand.text_on(accent)) for accent in SWEEP)
    assert worst >= brand.AA_TEXT
    assert brand.text_on("#ffcc00") == "#000000"
    assert brand.text_on("#1f5fbf") == "#ffffff"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_links_in_any_accent_read_at_aa_on_both_backgrounds(theme: str) -> None:
    backgrounds, _ = brand.THEMES[theme]
    for accent in SWEEP:
        link = brand.link_colour(accent, theme)
        assert all(brand.contrast(link, bg) >= brand.AA_TEXT for bg in backgrounds), (accent, theme)
    assert brand.link_colour("#1f5fbf", "light") == "#1f5fbf"  # kept when it already reads
    assert brand.link_colour("#ffcc00", "light") != "#ffcc00"  # 1.6:1 on white: darkened


def test_the_contrast_check_knows_the_themes_real_backgrounds() -> None:
    """brand.THEMES must be portal.css's --bg and --surface, or the check checks nothing."""
    css = CSS.read_text()
    for name in ("bg", "surface"):
        light, dark = re.search(rf"--{name}: light-dark\((#\w+), (#\w+)\);", css).groups()  # type: ignore[union-attr]
        assert light in brand.THEMES["light"][0]
        assert dark in brand.THEMES["dark"][0]
    assert "a { color: var(--link); }" in css  # links take the adjusted colour, not the fill


# --- what a visitor sees ------------------------------------------------------------------------


def test_pages_carry_the_default_brand(client: TestClient) -> None:
    page = client.get("/login").text
    assert "<title>Sign In · Phone Portal</title>" in page
    assert re.search(r'<a class="brand" href="/">Phone Portal</a>', page)
    assert "/brand.css" not in page  # no accent: portal.css's own colours, one request fewer
    assert "<title>Forgot Password · Phone Portal</title>" in client.get("/forgot-password").text


def test_the_header_titles_and_csp_carry_the_operators_brand(branded: TestClient) -> None:
    page = branded.get("/login")
    assert "<title>Sign In · Acme Phones</title>" in page.text
    assert re.search(
        rf'<a class="brand" href="/"><img class="brand-logo" src="{LOGO}" alt="">Acme Phones</a>',
        page.text,
    )
    img_src = re.search(r"img-src ([^;]+)", page.headers["Content-Security-Policy"])
    assert img_src and img_src.group(1).split() == [
        "'self'",
        "data:",
        "https://cdn.example.com:8443",
    ]
    assert 'content="Sign in to Acme Phones' in page.text


def test_the_accent_is_a_cacheable_stylesheet_that_keeps_contrast(branded: TestClient) -> None:
    page = branded.get("/login").text
    href = re.search(r'<link rel="stylesheet" href="(/brand\.css\?v=\w+)">', page)
    assert href, "the page does not load the accent"
    css = branded.get(href.group(1))
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "--accent: #ffcc00;" in css.text
    assert "--accent-text: #000000;" in css.text  # black on yellow, 14:1
    light, dark = re.search(r"--link: light-dark\((#\w+), (#\w+)\);", css.text).groups()  # type: ignore[union-attr]
    assert all(brand.contrast(light, bg) >= 4.5 for bg in ("#f6f7f9", "#ffffff"))
    assert all(brand.contrast(dark, bg) >= 4.5 for bg in ("#111418", "#1b2027"))
    # Another name (an old page's) is revalidated rather than kept.
    assert branded.get("/brand.css?v=000000000000").headers["Cache-Control"] == "no-cache"
    etag = css.headers["ETag"]
    assert branded.get(href.group(1), headers={"If-None-Match": etag}).status_code == 304


def test_signed_in_pages_carry_the_brand(branded: TestClient) -> None:
    make_account_in(branded)
    Auth(branded).login()
    page = branded.get("/phone").text
    assert "<title>Phone · Acme Phones</title>" in page
    assert f'<img class="brand-logo" src="{LOGO}" alt="">Acme Phones</span>' in page
    assert "<title>Settings · Acme Phones</title>" in branded.get("/settings").text


@pytest.mark.parametrize("path", ["/login", "/forgot-password", "/reset-password/x"])
def test_signed_out_pages_describe_themselves(client: TestClient, path: str) -> None:
    description = re.search(r'<meta name="description" content="([^"]+)">', client.get(path).text)
    assert description and "Phone Portal" in description.group(1)


def test_signed_in_pages_describe_themselves(auth: Auth, account: Account) -> None:
    auth.login()
    for path in ("/phone", "/settings"):
        page = auth.client.get(path).text
        assert re.search(r'<meta name="description" content="Phone Portal: [^"]+">', page), path


def test_robots_txt_lets_the_login_page_be_found_and_keeps_the_rest_out(
    client: TestClient,
) -> None:
    answer = client.get("/robots.txt")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(answer.text.splitlines())
    for allowed in ("/login", "/login?next=/settings", "/static/css/portal.css"):
        assert robots.can_fetch("Googlebot", allowed), allowed
    for kept_out in ("/phone", "/settings", "/forgot-password", "/reset-password/abc", "/dev/mail"):
        assert not robots.can_fetch("Googlebot", kept_out), kept_out


# --- the reset pages ----------------------------------------------------------------------------


def test_a_dead_reset_link_says_so_in_its_title(client: TestClient) -> None:
    page = client.get("/reset-password/" + "x" * 43)
    assert page.status_code == 410
    assert "<title>Reset Link No Longer Works · Phone Portal</title>" in page.text
    assert '<a href="/login">Back to sign in</a>' in page.text


# --- the emails, as the SMTP server receives them -------------------------------------------------


def ask_for_link(client: TestClient) -> None:
    token = csrf_from(client.get("/forgot-password").text)
    client.post("/forgot-password", data={"username": "201-wickedsprockets", "csrf_token": token})


def paragraphs_are_whole_lines(text: str) -> None:
    """Every line ends a sentence (or is a link or a greeting): none was wrapped mid-sentence."""
    for line in text.strip().splitlines():
        if line and not line.startswith("http"):
            assert SENTENCE_END.search(line.rstrip()) or line.endswith(","), repr(line)


def test_the_emails_are_branded_and_unwrapped(branded: TestClient, smtp_sink: TestSink) -> None:
    make_account_in(branded)
    ask_for_link(branded)
    [mail] = smtp_sink.wait_for(1)
    assert mail.subject == "Reset your Acme Phones password"
    assert mail.sender == "Acme Phones <portal@localhost>"
    assert "reset the Acme Phones password of extension 201-wickedsprockets" in mail.text
    paragraphs_are_whole_lines(mail.text)
    assert (
        "The link works once. If you did not ask for this, ignore this email: your password"
        " stays as it is. If you get these emails without asking, tell your system administrator."
    ) in mail.text.splitlines()

    # Setting the new password sends the notice, from and about the brand too.
    path = re.search(r"/reset-password/[\w-]+", mail.text).group(0)  # type: ignore[union-attr]
    page = branded.get(path).text
    assert "<title>Choose a New Password · Acme Phones</title>" in page
    assert '<a href="/login">Back to sign in</a>' in page
    new = "a new and better passphrase"
    fields = {"new_password": new, "confirm_password": new, "csrf_token": csrf_from(page)}
    assert branded.post(path, data=fields).status_code == 303
    notice = smtp_sink.wait_for(2)[0]
    assert notice.subject == "Your Acme Phones password was changed"
    assert notice.sender == "Acme Phones <portal@localhost>"
    assert "The Acme Phones password of extension 201-wickedsprockets" in notice.text
    paragraphs_are_whole_lines(notice.text)
    assert (
        "If this was you, there is nothing to do. If it was not you, contact your system"
        " administrator straight away."
    ) in notice.text.splitlines()


def test_the_sender_is_named_after_the_brand_unless_it_has_a_name(
    client: TestClient, smtp_sink: TestSink, settings: Settings, account: Account
) -> None:
    del account
    ask_for_link(client)
    [mail] = smtp_sink.wait_for(1)
    assert mail.sender == "Phone Portal <portal@localhost>"
    assert mail.subject == "Reset your Phone Portal password"
    named = replace(settings, mail_from="Help Desk <help@example.com>")
    assert MailSender(named, sessionmaker=None).sender == "Help Desk <help@example.com>"  # type: ignore[arg-type]
