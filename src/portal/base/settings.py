"""Settings, read once from the environment (the names are part of the public contract)."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.config import Config

from portal.base.brand import DEFAULT_NAME, Brand, BrandError
from portal.base.resources import static_dir

DEFAULT_DATABASE_URL = "sqlite:///./var/portal.db"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Declared:
    """What a setting is beyond its name, type and default: where it comes from and what it means.

    `shown` is the default as the README's table says it, when the value itself would not do;
    `parse` reads the variable's text when its type alone does not say how.
    """

    env: str
    meaning: str
    shown: str | None = None
    parse: Callable[[str], Any] | None = None

    def default_text(self, default: object) -> str:
        """The default as the README's table shows it."""
        if self.shown is not None:
            return self.shown
        if default is None:
            return "unset"
        if default is False:
            return "off"
        if default == ():
            return "empty"
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        return f"`{default}`"


def setting(default: Any, env: str, meaning: str, **more: Any) -> Any:
    """A setting of the environment, declared once: the field's name and type, its default,
    and its variable, meaning and README default (see `Declared`)."""
    return field(default=default, metadata={"setting": Declared(env, meaning, **more)})


def _optional(value: str) -> str | None:
    return value or None


@dataclass(frozen=True)
class Settings:
    """Every setting, read once from the environment at start (the names are the contract)."""

    database_url: str = setting(
        DEFAULT_DATABASE_URL,
        "PORTAL_DATABASE_URL",
        "SQLite (WAL, foreign keys on) or `postgresql+psycopg://user@host/db`",
    )
    redis_url: str | None = setting(
        None,
        "PORTAL_REDIS_URL",
        "unset: sessions in the database, rate limits in memory; set: both in Redis",
    )
    secret_key: str = setting(
        "",
        "PORTAL_SECRET_KEY",
        "keys the hashes under which session ids are stored; changing it signs everybody out",
        shown="required outside demo mode",
    )
    base_url: str = setting(
        "http://127.0.0.1:8000",
        "PORTAL_BASE_URL",
        "emailed links are built from it (`portal demo`: `http://localhost:PORT`); `https://`"
        " makes the session cookie `Secure` and adds HSTS",
        parse=lambda value: value.rstrip("/"),
    )
    smtp_host: str = setting("127.0.0.1", "PORTAL_SMTP_HOST", "outgoing mail: the SMTP server")
    smtp_port: int = setting(25, "PORTAL_SMTP_PORT", "its port")
    smtp_username: str | None = setting(
        None, "PORTAL_SMTP_USERNAME", "sign in to it as this user, when set"
    )
    smtp_password: str | None = setting(None, "PORTAL_SMTP_PASSWORD", "with this password")
    smtp_starttls: bool = setting(False, "PORTAL_SMTP_STARTTLS", "upgrade to TLS with STARTTLS")
    mail_from: str = setting("portal@localhost", "PORTAL_MAIL_FROM", "the sender of its mail")
    session_idle_seconds: int = setting(
        14400, "PORTAL_SESSION_IDLE_SECONDS", "sliding idle limit", shown="`14400` (4 hours)"
    )
    login_max_failures: int = setting(
        5, "PORTAL_LOGIN_MAX_FAILURES", "failed sign-ins before the wait"
    )
    login_lockout_seconds: int = setting(
        900,
        "PORTAL_LOGIN_LOCKOUT_SECONDS",
        "the wait, and the window failures count in",
        shown="`900` (15 minutes)",
    )
    login_ip_max_failures: int = setting(
        50, "PORTAL_LOGIN_IP_MAX_FAILURES", "per-address ceiling across all usernames"
    )
    reset_token_seconds: int = setting(
        3600,
        "PORTAL_RESET_TOKEN_SECONDS",
        "life of a password-reset link",
        shown="`3600` (1 hour)",
    )
    password_min_length: int = setting(
        8, "PORTAL_PASSWORD_MIN_LENGTH", "shortest password accepted"
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        (),
        "PORTAL_TRUSTED_PROXIES",
        "addresses or networks whose `X-Forwarded-For` is believed",
        parse=lambda value: parse_networks(value),
    )
    demo: bool = setting(
        False,
        "PORTAL_DEMO",
        "demo mode (`make run` / `portal demo` turn it on): SMTP sink and `/dev/mail`",
    )
    mail_poll_seconds: float = setting(
        5.0,
        "PORTAL_MAIL_POLL_SECONDS",
        "how often the outbox is checked (a request that queues mail also wakes the sender)",
    )
    mail_retry_max_seconds: float = setting(
        300.0,
        "PORTAL_MAIL_RETRY_MAX_SECONDS",
        "longest wait between two tries of a message that could not be sent",
    )
    redis_prefix: str = setting("portal:", "PORTAL_REDIS_PREFIX", "prefix of every Redis key")
    reload_templates: bool = setting(
        False,
        "PORTAL_RELOAD_TEMPLATES",
        "designer mode (`--reload` turns it on): templates, CSS and JS are re-read when they"
        " change, and the pattern gallery is served",
    )
    # The softphone: unset sip_ws_url means no phone system (the Phone tab says so).
    sip_ws_url: str | None = setting(
        None,
        "PORTAL_SIP_WS_URL",
        "the SIP server's WebSocket URL (`wss://…` in production); unset: the Phone tab says"
        " that no phone system is configured",
    )
    sip_domain: str | None = setting(
        None,
        "PORTAL_SIP_DOMAIN",
        "the SIP domain of the extensions' addresses: `sip:201-wickedsprockets@DOMAIN`",
        shown="– (required with `PORTAL_SIP_WS_URL`)",  # noqa: RUF001 - as the README shows it
    )
    sip_secret: str | None = setting(
        None,
        "PORTAL_SIP_SECRET",
        "shared with the SIP server's `auth_ephemeral` and coturn's `static-auth-secret`; the"
        " portal makes short-lived SIP and TURN credentials with it",
        shown="– (required with `PORTAL_SIP_WS_URL`, 16 characters or more)",  # noqa: RUF001
    )
    turn_urls: tuple[str, ...] = setting(
        (),
        "PORTAL_TURN_URLS",
        "comma-separated `turn:`/`turns:` URLs (e.g. `turns:turn.example.com:443?transport=tcp`"
        " for networks that allow only web traffic), handed to the browser with the same"
        " short-lived credentials",
        parse=lambda value: tuple(value.replace(",", " ").split()),
    )
    brand_name: str = setting(
        DEFAULT_NAME,
        "PORTAL_BRAND_NAME",
        "the portal's name: in the header, every page title, and the emails' sender name,"
        " subject and text",
    )
    brand_accent: str | None = setting(
        None,
        "PORTAL_BRAND_ACCENT",
        "a CSS hex colour (`#0a7d4f`) for buttons, the current tab and links: text on it is"
        " black or white, whichever contrasts more, and links are darkened or lightened as each"
        " theme needs for 4.5:1; unset: the portal's blue",
    )
    brand_logo_url: str | None = setting(
        None,
        "PORTAL_BRAND_LOGO_URL",
        "an image shown before the name in the header: `https://…` (its origin is added to the"
        " CSP's `img-src`) or a path on this site (`/…`)",
    )
    # Not read from the environment: tests and benchmarks make hashing cheaper; production
    # keeps the README's figures.
    static_dir: Path = field(default_factory=static_dir)
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1

    def __post_init__(self) -> None:
        if self.session_idle_seconds < 1:
            raise SettingsError("PORTAL_SESSION_IDLE_SECONDS must be at least 1")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise SettingsError("PORTAL_BASE_URL must start with http:// or https://")
        try:
            Brand.checked(self.brand_name, self.brand_accent, self.brand_logo_url)
        except BrandError as exc:
            raise SettingsError(str(exc)) from None
        if self.sip_ws_url is not None:
            _check_sip(self.sip_ws_url, self.sip_domain, self.sip_secret, self.turn_urls)

    def check_serving(self) -> None:
        """What serving needs beyond what the admin commands need."""
        if not self.secret_key:
            raise SettingsError("PORTAL_SECRET_KEY is required outside demo mode")

    @functools.cached_property
    def brand(self) -> Brand:
        """The checked branding (the name trimmed, the accent as `#rrggbb`)."""
        return Brand.checked(self.brand_name, self.brand_accent, self.brand_logo_url)

    @property
    def https(self) -> bool:
        """Whether the portal is served over TLS, which makes the session cookie Secure."""
        return urlsplit(self.base_url).scheme == "https"

    @property
    def origin(self) -> str:
        """The portal's own origin, `scheme://host[:port]`: what passkeys are bound to."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @functools.cached_property
    def passkey_rp_id(self) -> str | None:
        """The WebAuthn relying party id, the host of the base URL; None when that host is an
        IP address, which browsers refuse as one (passkeys are then not offered)."""
        host = urlsplit(self.base_url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host or None
        return None

    @property
    def sip_origins(self) -> tuple[str, ...]:
        """The SIP server's WebSocket origin, which the pages' CSP lets them connect to."""
        if self.sip_ws_url is None:
            return ()
        parts = urlsplit(self.sip_ws_url)
        return (f"{parts.scheme}://{parts.netloc}",)

    @property
    def session_refresh_seconds(self) -> float:
        """How stale a session's expiry may get before a request slides it (one write a minute)."""
        return min(60.0, self.session_idle_seconds / 10)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every declared PORTAL_* variable; a malformed one raises SettingsError naming it."""
        config = Config(environ=dict(os.environ if environ is None else environ))
        values: dict[str, Any] = {}
        try:
            for declared_field in fields(cls):
                declared = declared_field.metadata.get("setting")
                if declared is None:
                    continue
                raw = config(declared.env, default=None)
                if raw is None:
                    continue
                if declared.parse is not None:
                    values[declared_field.name] = declared.parse(raw)
                else:
                    cast = _CASTS[str(declared_field.type)]
                    values[declared_field.name] = config(declared.env, cast=cast)
            if not values.get("secret_key") and values.get("demo"):
                values["secret_key"] = _demo_secret()
            return cls(**values)
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(str(exc)) from None

    @classmethod
    def declared(cls) -> list[tuple[str, Declared, object]]:
        """(field name, declaration, default) of every setting read from the environment."""
        return [
            (item.name, item.metadata["setting"], item.default)
            for item in fields(cls)
            if "setting" in item.metadata
        ]


_CASTS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "str | None": _optional,
    "int": int,
    "float": float,
    "bool": bool,  # Starlette's Config reads true/false/1/0 for bool
}


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Parse a comma- or space-separated list of addresses and networks."""
    try:
        return tuple(
            ipaddress.ip_network(part, strict=False) for part in value.replace(",", " ").split()
        )
    except ValueError:
        raise SettingsError(f"PORTAL_TRUSTED_PROXIES: not an address list: {value!r}") from None


# RFC 7065 TURN URIs: turn:host[:port][?transport=udp|tcp], turns: for TLS.
_TURN_URL = re.compile(
    r"^turns?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\?transport=(?:udp|tcp))?$"
)
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
SIP_SECRET_MIN_LENGTH = 16


def _check_sip(ws_url: str, domain: str | None, secret: str | None, turn: tuple[str, ...]) -> None:
    """The softphone's settings, checked together: a phone system needs all of them."""
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise SettingsError(
            f"PORTAL_SIP_WS_URL must be a ws:// or wss:// URL with a host, not {ws_url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise SettingsError("PORTAL_SIP_WS_URL must not carry a user name or password")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise SettingsError(f"PORTAL_SIP_WS_URL has a malformed port: {ws_url!r}") from None
    if domain is None:
        raise SettingsError("PORTAL_SIP_DOMAIN is required when PORTAL_SIP_WS_URL is set")
    if not _DOMAIN.match(domain):
        raise SettingsError(f"PORTAL_SIP_DOMAIN must be a host name, not {domain!r}")
    if secret is None:
        raise SettingsError("PORTAL_SIP_SECRET is required when PORTAL_SIP_WS_URL is set")
    if len(secret) < SIP_SECRET_MIN_LENGTH:
        raise SettingsError(
            f"PORTAL_SIP_SECRET must be at least {SIP_SECRET_MIN_LENGTH} characters:"
            " anyone who guesses it can make credentials for any extension"
        )
    for url in turn:
        if not _TURN_URL.match(url):
            raise SettingsError(
                "PORTAL_TURN_URLS: each entry must be a turn: or turns: URL"
                f" (turn:host[:port][?transport=udp|tcp]), not {url!r}"
            )


def _demo_secret() -> str:
    """Demo mode keeps one random key in var/ so a restart does not sign everybody out."""
    path = Path("var") / "demo-secret-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
