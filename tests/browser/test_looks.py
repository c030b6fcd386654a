"""Words and looks in a real Chromium: buttons and headings named as the user documentation
names them, in one capitalisation (Title Case), and the layout details a new user notices."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.dev import patterns
from tests.browser.conftest import Pages, Server, axe_violations, sign_in
from tests.browser.sync_api import Page, expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


# --- names: Title Case, as the documentation writes "Sign In" and "Send Reset Link" ---------

# Words that stay lower case inside a title (never first or last): articles, short
# conjunctions and prepositions. "Sign In" and "Hang Up" end in theirs, so those are capitals.
SMALL_WORDS = {"a", "an", "the", "and", "but", "or", "nor", "for", "at", "by", "in", "of", "on"}
SMALL_WORDS |= {"to", "with", "as"}
# A verb's particle belongs to the verb, so it is a capital wherever it stands: "Sign In with a
# Passkey", as the documentation names that button.
PARTICLES = {("sign", "in")}


def title_case_problem(text: str) -> str | None:
    """Why `text` is not Title Case, or None when it is."""
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    for index, word in enumerate(words):
        letters = word.strip("?!.,:;()\"'…")
        if not letters or not letters[0].isalpha():
            continue  # a number, a key of the dial pad
        particle = index > 0 and (words[index - 1].lower(), letters.lower()) in PARTICLES
        inner = 0 < index < len(words) - 1 and not words[index - 1].endswith(":") and not particle
        if inner and letters.lower() in SMALL_WORDS:
            if letters != letters.lower():
                return f"{word!r} is a small word: lower case inside a title"
        elif not letters[0].isupper() and letters == letters.lower():
            # a name written with its own capitals ("iOS", "macOS") stays as its owner writes it
            return f"{word!r} should start with a capital"
    return None


# Every heading and button of a state, shown or not (a state hides what it does not need):
# its own words, its accessible name, and the words a sighted user sees on it.
NAMES = """() => [...document.querySelectorAll(
    "h1, h2, h3, h4, button, a.button, [role=button]")]
  .map(el => {
  const own = el.cloneNode(true);
  own.querySelectorAll("[aria-hidden=true]").forEach(n => n.remove());
  return {
    what: el.outerHTML.slice(0, 100),
    words: own.textContent.replace(/\\s+/g, " ").trim(),
    label: el.getAttribute("aria-label"),
    shown: el.textContent.replace(/\\s+/g, " ").trim(),
  };
})"""
# The states of the pages users see (the demo's mail page and the emails are not the portal's).
PAGE_STATES = [
    p.name
    for p in patterns.REGISTRY
    if p.template in {"login.html", "forgot.html", "reset.html", "error.html"}
    or p.template in {"phone.html", "settings.html"}
]


def test_every_button_and_heading_is_title_case(pages: Pages, gallery: Server) -> None:
    page = pages.new_page(server=gallery)
    problems: list[str] = []
    seen: set[str] = set()
    for name in PAGE_STATES:
        page.goto(f"/-/patterns/{name}")
        for item in page.evaluate(NAMES):
            for text in filter(None, [item["words"], item["label"]]):
                if text in seen:
                    continue
                seen.add(text)
                if why := title_case_problem(text):
                    problems.append(f"{name}: {text!r}: {why} ({item['what']})")
            # A name that differs from the visible words only in case is still two names.
            if item["label"] and item["shown"] and item["shown"] not in item["label"]:
                problems.append(f"{name}: shown {item['shown']!r}, named {item['label']!r}")
    assert not problems, "\n".join(problems)
    # The documentation's words, exactly.
    for name in ["Sign In", "Send Reset Link", "Change Password", "Sign Out", "Hang Up"]:
        assert name in seen, f"no button or heading says {name!r}"


def test_the_login_page_says_what_the_documentation_says(page: Page) -> None:
    page.goto("/login")
    assert page.get_by_role("button", name="Sign In", exact=True).count() == 1
    assert page.get_by_role("link", name="Forgot password?", exact=True).count() == 1
    assert page.get_by_role("heading", name="Sign In", exact=True).count() == 1


# --- the top bar --------------------------------------------------------------------------------

AT_PHONE = re.compile(r"/phone$")

# The visible controls of the top bar, left to right: what each is named and where it ends.
BAR_CONTROLS = """() => [...document.querySelectorAll("header a[href], header button")]
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map(el => {
    const r = el.getBoundingClientRect();
    return {name: el.getAttribute("aria-label") || el.textContent.trim(), left: r.left,
            right: r.right, top: r.top};
  })
  .sort((a, b) => a.right - b.right)"""


def signed_in_page(pages: Pages, server: Server, width: int, height: int = 800) -> Page:
    page = pages.new_page(viewport={"width": width, "height": height})
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    return page


def test_sign_out_is_the_right_most_control_on_wide_screens(pages: Pages, server: Server) -> None:
    """The documentation: "click the sign-out icon in the top-right corner of the navigation
    bar" (and the half-circle theme icon is in the bar too: beside it)."""
    page = signed_in_page(pages, server, 1280)
    controls = page.evaluate(BAR_CONTROLS)
    names = [c["name"] for c in controls]
    assert names[-1] == "Sign Out", names
    assert names[-2].startswith("Theme: "), names
    corner = controls[-1]
    assert 1280 - corner["right"] <= 24 and corner["top"] <= 16, corner


def test_the_theme_says_its_choice_and_other_tabs_follow(pages: Pages, server: Server) -> None:
    page = signed_in_page(pages, server, 1280)
    other = page.context.new_page()
    pages.watch(other)
    for tab in (page, other):
        tab.emulate_media(color_scheme="dark")  # so System -> Dark changes no colour
    other.goto("/settings")
    button = page.get_by_role("button", name=re.compile(r"^Theme: "))
    label = page.locator("[data-theme-label]")
    announce = page.locator("[data-theme-announce]")
    expect(label).to_have_text("System")
    expect(label).to_be_visible()
    expect(announce).to_have_attribute("aria-live", "polite")
    expect(announce).to_have_text("")  # nothing to say before a change

    for shown, value in [("Dark", "dark"), ("Light", "light"), ("System", None)]:
        button.click()
        expect(label).to_have_text(shown)
        expect(button).to_have_accessible_name(f"Theme: {shown}")
        expect(announce).to_have_text(f"Theme: {shown}")
        # The other tab, untouched, follows at once: no reload.
        expect(other.locator("[data-theme-label]")).to_have_text(shown)
        theme = "document.documentElement.dataset.theme ?? null"
        assert other.evaluate(theme) == value
        expect(other.get_by_role("button", name=re.compile(r"^Theme: "))).to_have_accessible_name(
            f"Theme: {shown}"
        )
        assert other.locator("[data-theme-announce]").text_content() == ""  # said where clicked
    # Said once, briefly: the words go, so a screen reader does not find them again later.
    expect(announce).to_have_text("", timeout=8000)


def test_the_theme_label_shows_on_the_sign_in_page_too(page: Page) -> None:
    page.emulate_media(color_scheme="dark")
    page.goto("/login")
    label = page.locator("[data-theme-label]")
    expect(label).to_have_text("System")
    page.get_by_role("button", name=re.compile(r"^Theme: ")).click()
    expect(label).to_have_text("Dark")
    expect(page.locator("[data-theme-announce]")).to_have_text("Theme: Dark")


def left_edges(page: Page) -> dict[str, float]:
    """Where the words (or the icon) of each part of the open phone menu begin."""
    result: dict[str, float] = page.evaluate(
        """() => {
          const textLeft = el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            return range.getClientRects()[0].left;
          };
          const out = {};
          for (const a of document.querySelectorAll("#tabs a")) {
            out[a.textContent.trim()] = textLeft(a);
          }
          out.who = textLeft(document.querySelector(".who"));
          const icon = document.querySelector(".signout-button svg");
          out["Sign Out"] = icon.getBoundingClientRect().left;
          return out;
        }"""
    )
    return result


def test_the_phone_menu_lines_up_and_closes_when_tapped_outside(
    pages: Pages, server: Server
) -> None:
    page = signed_in_page(pages, server, 390, 844)
    menu = page.get_by_role("button", name="Menu")
    tabs = page.get_by_role("navigation", name="Portal")
    sign_out = page.get_by_role("button", name="Sign Out", exact=True)
    menu.click()
    expect(sign_out).to_be_visible()
    edges = left_edges(page)
    assert max(edges.values()) - min(edges.values()) <= 1, edges

    # A tap inside (on who is signed in) leaves it open; one on the page below closes it.
    page.locator(".who").click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.get_by_role("heading", name="Phone", level=1).click()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(tabs).to_be_hidden()
    expect(sign_out).to_be_hidden()
    # The theme is in the bar, not the menu: it still shows, and a tap on it keeps the menu.
    menu.click()
    page.get_by_role("button", name=re.compile(r"^Theme: ")).click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    # A tap on the bar outside the menu closes it too.
    page.locator("header").click(position={"x": 150, "y": 10})
    expect(menu).to_have_attribute("aria-expanded", "false")


# The focused element's outline (width + offset around its box) must be inside the window and
# inside every ancestor that clips what overflows it.
RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  const grow = parseFloat(style.outlineWidth) + Math.max(0, parseFloat(style.outlineOffset));
  const r = el.getBoundingClientRect();
  const ring = {left: r.left - grow, top: r.top - grow,
                right: r.right + grow, bottom: r.bottom + grow};
  const clips = [{what: "the window", left: 0, top: 0,
                  right: document.documentElement.clientWidth, bottom: innerHeight}];
  for (let p = el.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX !== "visible" || s.overflowY !== "visible") {
      const b = p.getBoundingClientRect();
      if (p === document.body || p === document.documentElement) continue;
      clips.push({what: p.tagName + "." + p.className, left: b.left, top: b.top, right: b.right,
                  bottom: b.bottom});
    }
  }
  const cut = clips.filter(c => ring.left < c.left - .5 || ring.top < c.top - .5
                               || ring.right > c.right + .5 || ring.bottom > c.bottom + .5);
  return {what: el.outerHTML.slice(0, 80), grow, ring, cut: cut.map(c => c.what)};
}"""


@pytest.mark.parametrize("width", [1280, 700, 390])
def test_the_top_bars_focus_ring_is_never_cut_off(pages: Pages, server: Server, width: int) -> None:
    page = signed_in_page(pages, server, width)
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():
        menu.click()
    page.locator("body").focus()
    page.evaluate("window.scrollTo(0, 0)")
    problems = []
    for _ in range(12):
        page.keyboard.press("Tab")
        if not page.evaluate("!!document.activeElement.closest('header')"):
            if page.evaluate("document.activeElement.matches('.skip-link')"):
                continue
            break
        ring = page.evaluate(RING)
        assert ring["grow"] >= 4, ring  # a ring at all, and apart from the control
        if ring["cut"]:
            problems.append(ring)
    assert not problems, problems


def test_who_is_signed_in_keeps_to_one_line_at_700px(pages: Pages, server: Server) -> None:
    page = signed_in_page(pages, server, 700)
    who = page.locator(".who")
    box = who.evaluate(
        """el => ({lines: Math.round(el.getBoundingClientRect().height
                                     / parseFloat(getComputedStyle(el).lineHeight)),
                  cut: el.scrollWidth > el.clientWidth, title: el.title,
                  text: el.textContent.replace(/\\s+/g, " ").trim()})"""
    )
    assert box["lines"] == 1, box
    # All of it is there for whoever points at it, whether or not it fits.
    assert box["title"] == "201 Ada Lovelace · Wicked Sprockets", box
    header = page.locator("header").bounding_box()
    assert header is not None and header["height"] < 70, header  # the bar is one row


# --- the pattern gallery ----------------------------------------------------------------------


@pytest.mark.timeout(300)  # every state of the portal, loaded in one page
def test_the_gallery_fits_a_phone_and_its_frames_raise_no_errors(
    pages: Pages, gallery: Server
) -> None:
    page = pages.new_page(viewport={"width": 390, "height": 844}, server=gallery)
    page.goto("/-/patterns")
    frames = page.locator("iframe.pattern-frame")
    assert frames.count() == 4 * len(patterns.REGISTRY)
    # Nothing reaches past the right edge, the frames included (the page would hide them).
    wide = page.evaluate(
        """() => [...document.querySelectorAll("main *")]
          .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map(el => el.tagName + " " + (el.title || el.className))"""
    )
    assert not wide, wide[:10]
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # Every state loads (frames are lazy: load them now, in one theme; the other differs only
    # in data-theme); the `pages` fixture fails the test on any console error or uncaught
    # exception in any of them.
    dark = page.locator("iframe.pattern-frame[src$='theme=dark']")
    count = dark.count()
    dark.evaluate_all("fs => fs.forEach(f => { f.loading = 'eager'; })")

    def loading() -> list[Any]:
        return [f for f in page.frames if f.url.endswith("theme=dark")]

    for _ in range(120):
        if len(loading()) >= count:
            break
        page.wait_for_timeout(500)
    assert len(loading()) == count
    for frame in loading():
        frame.wait_for_load_state("load", timeout=60_000)
    page.wait_for_timeout(1000)  # the last frames' scripts


def test_the_gallery_shows_the_login_page_as_a_passkey_browser_sees_it(
    pages: Pages, gallery: Server
) -> None:
    """The gallery's server (an IP address) offers no passkeys, and its pages load no
    passkeys.js: the state shows Sign In with a Passkey as the script would, at both widths in
    both themes, and starts no passkey autofill."""
    page = pages.new_page(server=gallery)
    requested: list[str] = []  # by the frames

    def framed(request: Any) -> None:
        if request.frame.parent_frame is not None:
            requested.append(request.url)

    page.on("request", framed)
    page.goto("/-/patterns")
    index = page.get_by_role("navigation", name="States")
    expect(index.get_by_role("link", name="With passkeys", exact=True)).to_be_visible()
    frames = page.locator("iframe[src^='/-/patterns/login-passkeys?']")
    expect(frames).to_have_count(4)
    for number in range(4):
        frames.nth(number).scroll_into_view_if_needed()
        inside = frames.nth(number).content_frame
        expect(inside.get_by_role("button", name="Sign In with a Passkey")).to_be_visible()
        username = inside.get_by_role("textbox", name="Username")
        expect(username).to_have_attribute("autocomplete", "username webauthn")
    assert any("/js/portal." in url for url in requested)  # the frames' scripts did load
    assert not [url for url in requested if "/js/passkeys." in url]


# --- forms --------------------------------------------------------------------------------------

REM = 16


@pytest.mark.parametrize("where", ["/login", "/forgot-password", "/settings"])
def test_forms_have_a_readable_width_on_a_desktop(pages: Pages, server: Server, where: str) -> None:
    page = pages.new_page()
    if where == "/settings":
        sign_in(page, server)
        expect(page).to_have_url(AT_PHONE)
    page.goto(where)
    box = page.locator("main form.form").bounding_box()
    assert box is not None and 28 * REM <= box["width"] <= 32 * REM, box


def test_the_empty_strength_hint_leaves_no_gap(pages: Pages, server: Server) -> None:
    page = signed_in_page(pages, server, 1280)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Confirm new password")).to_be_visible()
    gaps = page.evaluate(
        """() => {
          const bottom = id => document.getElementById(id).getBoundingClientRect().bottom;
          const labelTop = id => document.querySelector(`label[for=${id}]`)
            .getBoundingClientRect().top;
          return {
            plain: labelTop("new_password") - bottom("current_password"),
            after_hint: labelTop("confirm_password") - bottom("new_password"),
          };
        }"""
    )
    assert abs(gaps["after_hint"] - gaps["plain"]) <= 1, gaps
    # Typing brings the hint, with room made for it.
    page.get_by_label("New password", exact=True).fill("sprockets")
    expect(page.locator("#new_password-strength")).to_contain_text("Weak")


# Whether the example username, where it shows in the element, is on one line.
ONE_LINE = """(el, word) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node; (node = walker.nextNode()); ) {
    const at = node.data.indexOf(word);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + word.length);
    found.push(new Set([...range.getClientRects()].map(r => Math.round(r.top))).size === 1);
  }
  return found;
}"""


def test_the_example_username_never_breaks_at_its_hyphen(page: Page) -> None:
    example = "201-wickedsprockets"
    page.goto("/forgot-password")
    page.get_by_label("Username").fill("   ")  # passes `required`, not the server
    page.get_by_role("button", name="Send Reset Link").click()
    error = page.locator(".field-error")
    expect(error).to_contain_text(example)
    broken = []
    for width in range(300, 641, 4):
        page.set_viewport_size({"width": width, "height": 800})
        for where in [page.locator(".field-hint"), error]:
            found = where.evaluate(ONE_LINE, example)
            assert found, f"no {example} in {where}"
            if not all(found):
                broken.append(f"{width}px: {where}")
    assert not broken, broken


# --- messages: success and error, told apart without colour -------------------------------------

MARK = """el => {
  const before = getComputedStyle(el, "::before");
  return {content: before.content, background: before.backgroundColor,
          edge: getComputedStyle(el).borderLeftColor, role: el.getAttribute("role")};
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_success_and_error_look_different_beyond_colour(
    pages: Pages, start_server: Callable[..., Server], theme: str
) -> None:
    server = start_server()
    page = pages.new_page(server=server)
    page.add_init_script(f'localStorage.setItem("portal-theme", "{theme}")')
    # An error: a refused sign-in, read out as an alert.
    page.goto("/login")
    page.get_by_label("Username").fill(server.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Invalid username or password")
    error = alert.evaluate(MARK)
    # A success: Change Password, read out as a status.
    sign_in(page, server)
    expect(page).to_have_url(AT_PHONE)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Current password").fill(server.password)
    new = "violet meadow 42 Kettle"
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Confirm new password").fill(new)
    page.get_by_role("button", name="Change Password").click()
    status = page.get_by_role("status").filter(has_text="Your password was changed.")
    expect(status).to_be_visible()
    success = status.evaluate(MARK)
    plain = page.evaluate(
        """() => {  // an ordinary notice's edge, in this theme
          const notice = document.createElement("p");
          notice.className = "notice";
          notice.textContent = "x";
          document.querySelector("main").append(notice);
          const edge = getComputedStyle(notice).borderLeftColor;
          notice.remove();
          return edge;
        }"""
    )
    server.password = new

    # Each has a mark of its own: a shape, not only a colour (the mark is not read out: the
    # role says it).
    assert error["content"] not in ("none", "normal"), error
    assert success["content"] not in ("none", "normal"), success
    assert error["content"] != success["content"], (error, success)
    assert error["content"].endswith('/ ""') and success["content"].endswith('/ ""')
    # And its own colour: the success's edge is not the plain notice's blue.
    assert success["background"] != error["background"]
    assert success["edge"] != plain, (success, plain)


MESSAGE_STATES = [
    "login-password-changed",
    "login-signed-out",
    "login-invalid",
    "forgot-empty-username",
    "settings-changed",
    "settings-wrong-current",
]


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_messages_are_axe_clean(
    pages: Pages, gallery: Server, axe_source: str, theme: str, width: int
) -> None:
    page = pages.new_page(viewport={"width": width, "height": 800}, server=gallery)
    found = {}
    for name in MESSAGE_STATES:
        page.goto(f"/-/patterns/{name}?theme={theme}")
        expect(page.locator("[data-theme-label]")).to_have_text(theme.title())
        if violations := axe_violations(page, axe_source):
            found[name] = violations
    assert not found, found
