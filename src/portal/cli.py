"""The `portal` command line: serve, migrate, and the administrator's account commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from portal.base import db, logs, ports
from portal.base.clock import as_utc
from portal.base.settings import Settings, SettingsError
from portal.domain import accounts, audit, signouts
from portal.flows.devices import service as devices
from portal.phone.demo import DEMO_WS_PORT
from portal.security.passwords import Passwords
from portal.security.redisstore import RedisStore
from portal.security.sessionstore import DatabaseStore, PortalStore

T = TypeVar("T")
DEMO_SMTP_PORT = 8025  # the demo's own mail sink, on 127.0.0.1


class CommandError(Exception):
    """Shown as one line on stderr; the command exits 1."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> Parser:
    parser = Parser(prog="portal", description="The customer portal of the hosted phone system.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser("serve", help="serve the portal with uvicorn")
    _add_server_options(serve)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (>1 needs Redis)")
    serve.add_argument("--reload", action="store_true", help="reload code and templates on save")

    demo = commands.add_parser("demo", help="migrate, seed a demo tenant if empty, and serve")
    _add_server_options(demo)
    demo.add_argument(
        "--reload", action="store_true", help="the designers' loop: reload on save of any file"
    )
    demo.add_argument(
        "--sip-port",
        type=int,
        default=DEMO_WS_PORT,
        help=f"the port of the demo's own Kamailio (default {DEMO_WS_PORT})",
    )
    demo.add_argument(
        "--reset-passwords",
        action="store_true",
        help="set new passwords for the demo's extensions, print them and exit",
    )

    database = commands.add_parser("db", help="database maintenance")
    db_commands = database.add_subparsers(dest="db_command", required=True, parser_class=Parser)
    db_commands.add_parser("upgrade", help="apply migrations up to the newest (idempotent)")

    tenant = commands.add_parser("tenant", help="manage tenants")
    tenant_commands = tenant.add_subparsers(
        dest="tenant_command", required=True, parser_class=Parser
    )
    tenant_add = tenant_commands.add_parser("add", help="add a tenant")
    tenant_add.add_argument("code", metavar="CODE")
    tenant_add.add_argument("--name", required=True)

    extension = commands.add_parser("extension", help="manage extensions")
    ext_commands = extension.add_subparsers(
        dest="extension_command", required=True, parser_class=Parser
    )
    ext_add = ext_commands.add_parser("add", help="add an extension")
    ext_add.add_argument("code", metavar="EXT-CODE")
    ext_add.add_argument("--name", required=True)
    ext_add.add_argument("--email")
    ext_add.add_argument("--password-stdin", action="store_true")
    ext_pw = ext_commands.add_parser("set-password", help="set a new password; signs it out")
    ext_pw.add_argument("code", metavar="EXT-CODE")
    ext_pw.add_argument("--password-stdin", action="store_true")
    ext_unlock = ext_commands.add_parser("unlock", help="lift a sign-in lockout")
    ext_unlock.add_argument("code", metavar="EXT-CODE")
    ext_sessions = ext_commands.add_parser("sessions", help="list its live sessions")
    ext_sessions.add_argument("code", metavar="EXT-CODE")
    ext_out = ext_commands.add_parser("sign-out", help="end all of its sessions now")
    ext_out.add_argument("code", metavar="EXT-CODE")

    trail = commands.add_parser("audit", help="show the audit trail, newest first")
    trail.add_argument("code", metavar="EXT-CODE", nargs="?", help="only this extension")
    trail.add_argument("--limit", type=int, default=50, help="how many events (default 50)")
    return parser


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported in one line
        return exc.code if isinstance(exc.code, int) else 1
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except (CommandError, SettingsError, accounts.AccountError) as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback
        print(f"portal: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "demo":
        return _demo(args)
    if args.command == "db":
        db.upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "audit":
        return _audit(args, settings)
    if args.command == "tenant":
        tenant = _run(settings, lambda s: accounts.create_tenant(s, args.code, args.name))
        print(f"tenant {tenant.code} added")
        return 0
    if args.extension_command == "unlock":
        _run(settings, lambda s: accounts.unlock(s, args.code))
        print(f"extension {args.code} unlocked: it may sign in again now")
        return 0
    if args.extension_command == "sessions":
        return _sessions(args, settings)
    if args.extension_command == "sign-out":
        ended = _run_with_store(settings, lambda s, store: signouts.sign_out(s, store, args.code))
        print(f"extension {args.code} signed out: {ended} session{'s' * (ended != 1)} ended")
        return 0
    passwords = Passwords.from_settings(settings)
    password = _read_password() if args.password_stdin else None
    if args.extension_command == "add":
        _, generated = _run(
            settings,
            lambda s: accounts.create_extension(
                s,
                passwords,
                args.code,
                args.name,
                email=args.email,
                password=password,
                min_length=settings.password_min_length,
            ),
        )
        print(f"extension {args.code} added")
    else:
        generated = _run_with_store(
            settings,
            lambda s, store: signouts.set_password(
                s,
                passwords,
                store,
                args.code,
                password,
                min_length=settings.password_min_length,
                brand=settings.brand.name,
            ),
        )
        print(f"password of {args.code} set; its sessions are signed out")
    if password is None:
        print(f"password: {generated}")
        print("(shown once: hand it to the user now)")
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    username = str(accounts.parse_extension_code(args.code)) if args.code else None
    events = _run(settings, lambda s: audit.recent(s, username, args.limit))
    for event in events:
        when = as_utc(event.at).strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{when}  {event.username:<28} {event.event:<16} {event.outcome:<10} {event.client}")
    if not events:
        print("no events")
    return 0


def _sessions(args: argparse.Namespace, settings: Settings) -> int:
    rows = _run_with_store(
        settings,
        lambda s, store: devices.of_extension(s, store, settings.secret_key, args.code),
    )
    for row in rows:
        print(
            f"{row.label:<32} {row.address:<39} signed in {row.since_text:<24}"
            f" last active {row.last_active_text}"
        )
    if not rows:
        print(f"extension {args.code} is not signed in anywhere")
    return 0


def _read_password() -> str:
    """One line from stdin, exactly as typed but for its line ending."""
    line = sys.stdin.readline()
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    if not line:
        raise CommandError("no password on standard input")
    return line


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return _run_with_store(settings, lambda session, _store: work(session))


def _run_with_store(
    settings: Settings, work: Callable[[AsyncSession, PortalStore], Awaitable[T]]
) -> T:
    """`work` on a database session and the session store, for ending an extension's
    sessions: the database's, or Redis's when PORTAL_REDIS_URL is set."""

    async def go() -> T:
        engine = db.make_engine(settings.database_url)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        store: PortalStore = (
            RedisStore(redis, settings.secret_key, settings.redis_prefix)
            if redis is not None
            else DatabaseStore(engine, settings.secret_key)
        )
        try:
            async with db.make_sessionmaker(engine)() as session:
                return await work(session, store)
        finally:
            if redis is not None:
                await redis.aclose()
            await db.dispose(engine)

    return asyncio.run(go())


def app_from_env() -> Starlette:
    """The ASGI app for uvicorn's --factory, configured from the environment."""
    from portal.app import create_app

    logs.configure()
    return create_app(Settings.from_env())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    if args.workers > 1 and not settings.redis_url:
        raise CommandError(
            "--workers above 1 needs PORTAL_REDIS_URL: workers must share sign-in limits"
        )
    settings.check_serving()
    _check_ports(_ports_of(args, settings))
    if args.reload:
        # Templates, CSS and JS are re-read when they change, with no restart (the demo's mail
        # sink keeps what it caught); a change to the code restarts the server.
        os.environ["PORTAL_RELOAD_TEMPLATES"] = "1"
    uvicorn.run(
        "portal.cli:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if not args.reload else None,
        reload=args.reload,
        reload_dirs=[os.path.dirname(__file__)] if args.reload else None,
        proxy_headers=False,
        access_log=False,  # ours leaves reset tokens out (portal.accesslog)
        server_header=False,
        log_level="info",
        log_config=None,  # keep ours: JSON lines with request ids
    )
    return 0


Listener = tuple[str, int, str, str]  # host, port, whose it is, the flag or setting for it


def _ports_of(args: argparse.Namespace, settings: Settings) -> list[Listener]:
    """What `portal serve` (or demo) listens on."""
    wanted = [(args.host, args.port, "the portal", "--port")]
    if settings.demo:
        wanted.append((settings.smtp_host, settings.smtp_port, "its mail sink", "PORTAL_SMTP_PORT"))
    return wanted


def _check_ports(wanted: list[Listener]) -> None:
    """Refuse, one line for each port already taken, before anything starts or is printed."""
    busy = [
        f"port {port} on {host} is already in use: choose another for {whose} with {how}"
        for host, port, whose, how in wanted
        if ports.in_use(host, port)
    ]
    if busy:
        raise CommandError("\nportal: ".join(busy))


def _reset_command() -> str:
    """How this command was called, for a line telling the user to call it again."""
    called = sys.argv[0] if sys.argv and os.path.basename(sys.argv[0]) == "portal" else "portal"
    if os.path.isabs(called) and not os.path.relpath(called).startswith(os.pardir):
        called = os.path.relpath(called)  # .venv/bin/portal, as `make run` calls it
    return f"{called} demo --reset-passwords"


def _demo(args: argparse.Namespace) -> int:
    from portal.dev.demo import reset_passwords, seed
    from portal.phone.demo import demo_phone_system, starts_kamailio

    os.environ["PORTAL_DEMO"] = "1"
    os.environ.setdefault("PORTAL_SMTP_PORT", str(DEMO_SMTP_PORT))
    os.environ.setdefault("PORTAL_MAIL_POLL_SECONDS", "1")
    # A name, not 127.0.0.1: a passkey's relying party id cannot be an IP address, and the
    # browser must be on the origin the base URL names (cookies, the SIP server's Origin check).
    url_host = "localhost" if args.host == "127.0.0.1" else args.host
    os.environ.setdefault("PORTAL_BASE_URL", f"http://{url_host}:{args.port}")
    origin = os.environ["PORTAL_BASE_URL"].rstrip("/")
    if args.reset_passwords:
        settings = Settings.from_env()
        db.upgrade(settings.database_url)
        passwords = Passwords.from_settings(settings)
        for line in _run_with_store(
            settings, lambda s, store: reset_passwords(s, passwords, store)
        ):
            print(line)
        return 0
    wanted = _ports_of(args, Settings.from_env())
    if starts_kamailio():
        wanted.append(("127.0.0.1", args.sip_port, "the demo's Kamailio", "--sip-port"))
    _check_ports(wanted)
    with demo_phone_system(Path("var") / "sip", origin, args.sip_port) as (
        phone_settings,
        phone_line,
    ):
        os.environ.update(phone_settings)
        settings = Settings.from_env()
        db.upgrade(settings.database_url)
        passwords = Passwords.from_settings(settings)
        for line in _run(settings, lambda s: seed(s, passwords, _reset_command())):
            print(line)
        base = origin
        print(f"serving the demo on {base}  (Ctrl-C stops it)")
        print(f"mail it sends: {base}/dev/mail")
        print(phone_line)
        if args.reload:
            print(f"reloads on save; every page in every state: {base}/-/patterns")
        args.workers = 1
        # uvicorn re-raises the SIGTERM or Ctrl-C it stopped for: as an exception it leaves
        # through this block, which stops the demo's Kamailio on the way out.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGINT, _exit_on_signal)
        return _serve(args, settings)


def _exit_on_signal(number: int, frame: object) -> NoReturn:
    # A second signal must not cut short the way out (Kamailio would be left running).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(0 if number == signal.SIGINT else 128 + number)
