"""The operator's branding: the portal's name, an accent colour and a logo, checked at start.

The accent must keep WCAG AA (4.5:1 for text) in both themes wherever the pages use it: as a
fill, with text drawn on it in black or white, whichever contrasts more; and as the colour of
links on each theme's backgrounds, where it is darkened (light theme) or lightened (dark theme)
just enough. The stylesheet that carries it is served as /brand.css (no inline styles: the CSP
has no 'unsafe-inline').
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_NAME = "Phone Portal"
NAME_MAX_LENGTH = 60
AA_TEXT = 4.5
BLACK = "#000000"
WHITE = "#ffffff"
# Each theme's page and card backgrounds (static/css/portal.css's --bg and --surface; a test
# holds the two together), and the colour a link is moved toward until it reads on them.
THEMES = {
    "light": (("#f6f7f9", "#ffffff"), BLACK),
    "dark": (("#111418", "#1b2027"), WHITE),
}
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BrandError(ValueError):
    """A branding setting cannot be used; the message names it."""


RGB = tuple[float, float, float]


def parse_hex(value: str) -> str:
    """`#abc` or `#aabbcc` (any case) as `#aabbcc`."""
    if not _HEX.match(value):
        raise BrandError(
            f"PORTAL_BRAND_ACCENT must be a CSS hex colour such as #0a7d4f, not {value!r}"
        )
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return "#" + digits


def _rgb(colour: str) -> RGB:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def _hex(rgb: RGB) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in rgb)


def luminance(colour: str) -> float:
    """WCAG 2's relative luminance of `#rrggbb`."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: str, other: str) -> float:
    """WCAG 2's contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on(accent: str) -> str:
    """Black or white, whichever reads better on `accent`; refused below 4.5:1.

    (Every colour reaches at least √21 ≈ 4.58:1 with one of the two, so the refusal guards the
    arithmetic rather than any colour an operator could pick.)
    """
    best = max((BLACK, WHITE), key=lambda text: contrast(accent, text))
    if contrast(accent, best) < AA_TEXT:
        raise BrandError(
            f"PORTAL_BRAND_ACCENT {accent} cannot carry text: neither black nor white reaches"
            f" {AA_TEXT}:1 on it"
        )
    return best


def link_colour(accent: str, theme: str) -> str:
    """`accent`, or the nearest colour toward black/white that reads (4.5:1) on `theme`'s
    backgrounds, for links."""
    backgrounds, toward = THEMES[theme]
    start, end = _rgb(accent), _rgb(toward)
    for step in range(21):  # 5% at a time; pure black or white always reads
        mix = step / 20
        colour = _hex(tuple(a + (b - a) * mix for a, b in zip(start, end, strict=True)))  # type: ignore[arg-type]
        if all(contrast(colour, background) >= AA_TEXT for background in backgrounds):
            return colour
    raise BrandError(  # unreachable while the backgrounds are as light or dark as they are
        f"PORTAL_BRAND_ACCENT {accent} cannot be made readable as a link in the {theme} theme"
    )


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH or _CONTROL.search(name):
        raise BrandError(
            f"PORTAL_BRAND_NAME must be 1 to {NAME_MAX_LENGTH} characters on one line"
            f" (it is the emails' sender name and subject too), not {name!r}"
        )
    return name


def check_logo_url(url: str) -> str:
    """An http(s) URL with a host, or a path on this site; nothing else reaches a page."""
    parts = urlsplit(url)
    problem = None
    if _CONTROL.search(url) or any(char.isspace() for char in url):
        problem = "has spaces or control characters"
    elif parts.scheme in ("http", "https"):
        if not parts.hostname:
            problem = "has no host"
        elif parts.username is not None or parts.password is not None:
            problem = "carries a user name or password"
    elif parts.scheme or not url.startswith("/") or url.startswith("//"):
        problem = "is neither an http(s) URL nor a path starting with /"
    if problem:
        raise BrandError(f"PORTAL_BRAND_LOGO_URL {problem}: {url!r}")
    return url


@dataclass(frozen=True)
class Brand:
    """What the pages and emails show of the operator: name, accent, logo."""

    name: str = DEFAULT_NAME
    accent: str | None = None
    logo_url: str | None = None

    @classmethod
    def checked(cls, name: str, accent: str | None, logo_url: str | None) -> Brand:
        """The brand, or BrandError naming the setting that cannot be used."""
        brand = cls(
            check_name(name),
            parse_hex(accent) if accent else None,
            check_logo_url(logo_url) if logo_url else None,
        )
        brand.stylesheet  # noqa: B018 - refuses an accent now rather than at the first page
        return brand

    @functools.cached_property
    def stylesheet(self) -> str:
        """/brand.css: the accent as the theme's custom properties (empty without one)."""
        if self.accent is None:
            return ""
        light, dark = link_colour(self.accent, "light"), link_colour(self.accent, "dark")
        return (
            "/* The operator's accent (PORTAL_BRAND_ACCENT), with the colours derived from it. */\n"
            ":root {\n"
            f"  --accent: {self.accent};\n"
            f"  --accent-text: {text_on(self.accent)};\n"
            f"  --link: light-dark({light}, {dark});\n"
            "}\n"
        )

    @functools.cached_property
    def stylesheet_url(self) -> str | None:
        """Where pages load the stylesheet, named by its content so it may be cached for good."""
        if not self.stylesheet:
            return None
        digest = hashlib.sha256(self.stylesheet.encode()).hexdigest()[:12]
        return f"/brand.css?v={digest}"

    @property
    def logo_origins(self) -> tuple[str, ...]:
        """The logo's origin when it is on another site, for the CSP's img-src."""
        if self.logo_url is None or self.logo_url.startswith("/"):
            return ()
        parts = urlsplit(self.logo_url)
        return (f"{parts.scheme}://{parts.netloc}",)
