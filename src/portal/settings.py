"""Settings, read once from the environment (the names are part of the public contract)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "sqlite:///./var/portal.db"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "portal:"
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    demo: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "portal@localhost"
    # How often the outbox is polled (a request that queues mail also wakes the sender), and
    # the longest wait between two tries of a message that could not be sent.
    mail_poll_seconds: float = 5.0
    mail_retry_max_seconds: float = 300.0
    session_idle_seconds: int = 14400
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_ip_max_failures: int = 50
    reset_token_seconds: int = 3600
    password_min_length: int = 8
    trusted_proxies: tuple[IPNetwork, ...] = ()
    static_dir: Path = PROJECT_ROOT / "static"
    # Tests and benchmarks may make hashing cheaper; production keeps the README's figures.
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    reload_templates: bool = False
    # The softphone: unset sip_ws_url means no phone system (the Phone tab says so).
    sip_ws_url: str | None = None
    sip_domain: str | None = None
    sip_secret: str | None = None
    turn_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.session_idle_seconds < 1:
            raise SettingsError("PORTAL_SESSION_IDLE_SECONDS must be at least 1")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise SettingsError("PORTAL_BASE_URL must start with http:// or https://")
        if self.sip_ws_url is not None:
            _check_sip(self.sip_ws_url, self.sip_domain, self.sip_secret, self.turn_urls)

    def check_serving(self) -> None:
        """What serving needs beyond what the admin commands need."""
        if not self.secret_key:
            raise SettingsError("PORTAL_SECRET_KEY is required outside demo mode")

    @property
    def https(self) -> bool:
        """Whether the portal is served over TLS, which makes the session cookie Secure."""
        return urlsplit(self.base_url).scheme == "https"

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
        """Read every PORTAL_* variable; a malformed value raises SettingsError naming it."""
        config = Config(environ=dict(os.environ if environ is None else environ))
        try:
            demo = config("PORTAL_DEMO", cast=bool, default=False)
            secret = config("PORTAL_SECRET_KEY", default="") or (_demo_secret() if demo else "")
            return cls(
                database_url=config("PORTAL_DATABASE_URL", default=DEFAULT_DATABASE_URL),
                redis_url=config("PORTAL_REDIS_URL", default=None) or None,
                redis_prefix=config("PORTAL_REDIS_PREFIX", default="portal:"),
                secret_key=secret,
                base_url=config("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/"),
                demo=demo,
                smtp_host=config("PORTAL_SMTP_HOST", default="127.0.0.1"),
                smtp_port=config("PORTAL_SMTP_PORT", cast=int, default=25),
                smtp_username=config("PORTAL_SMTP_USERNAME", default=None) or None,
                smtp_password=config("PORTAL_SMTP_PASSWORD", default=None) or None,
                smtp_starttls=config("PORTAL_SMTP_STARTTLS", cast=bool, default=False),
                mail_from=config("PORTAL_MAIL_FROM", default="portal@localhost"),
                mail_poll_seconds=config("PORTAL_MAIL_POLL_SECONDS", cast=float, default=5.0),
                mail_retry_max_seconds=config(
                    "PORTAL_MAIL_RETRY_MAX_SECONDS", cast=float, default=300.0
                ),
                session_idle_seconds=config("PORTAL_SESSION_IDLE_SECONDS", cast=int, default=14400),
                login_max_failures=config("PORTAL_LOGIN_MAX_FAILURES", cast=int, default=5),
                login_lockout_seconds=config("PORTAL_LOGIN_LOCKOUT_SECONDS", cast=int, default=900),
                login_ip_max_failures=config("PORTAL_LOGIN_IP_MAX_FAILURES", cast=int, default=50),
                reset_token_seconds=config("PORTAL_RESET_TOKEN_SECONDS", cast=int, default=3600),
                password_min_length=config("PORTAL_PASSWORD_MIN_LENGTH", cast=int, default=8),
                trusted_proxies=parse_networks(config("PORTAL_TRUSTED_PROXIES", default="")),
                reload_templates=config("PORTAL_RELOAD_TEMPLATES", cast=bool, default=False),
                sip_ws_url=config("PORTAL_SIP_WS_URL", default=None) or None,
                sip_domain=config("PORTAL_SIP_DOMAIN", default=None) or None,
                sip_secret=config("PORTAL_SIP_SECRET", default=None) or None,
                turn_urls=tuple(config("PORTAL_TURN_URLS", default="").replace(",", " ").split()),
            )
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(str(exc)) from None


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
