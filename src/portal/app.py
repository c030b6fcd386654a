"""The application factory: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from portal import health, site, tabs
from portal.base import db
from portal.base.clock import Clock
from portal.base.db import make_engine, make_sessionmaker
from portal.base.settings import Settings
from portal.dev import devmail, gallery
from portal.domain import devices
from portal.domain.mail import MailSender
from portal.domain.mailsink import MailSink
from portal.flows.devices import routes as devices_routes
from portal.flows.passkeys import routes as passkeys_routes
from portal.flows.password import routes as password_routes
from portal.flows.reset import routes as reset_routes
from portal.flows.signin import routes as signin_routes
from portal.middleware import errors
from portal.middleware.accesslog import AccessLogMiddleware
from portal.middleware.bodylimit import BodySizeLimitMiddleware
from portal.middleware.headers import SecurityHeadersMiddleware
from portal.middleware.sessions import SessionMiddleware
from portal.phone import routes as phone_routes
from portal.phone.view import shell_context
from portal.security.passwords import Passwords
from portal.security.redisstore import RedisStore
from portal.security.sessionstore import DatabaseStore, PortalStore
from portal.security.throttle import Throttle
from portal.web.assets import Assets
from portal.web.shared import STATE_KEY, Shared
from portal.web.templating import make_templates

log = logging.getLogger("portal")
PURGE_INTERVAL_SECONDS = 600
# Redis connections per process, like the database's pool: above it a command waits its turn
# (redis-py's default pool raises instead, which a burst of requests turned into 503s), up to
# REDIS_POOL_WAIT seconds, then the request gets the 503 page.
REDIS_POOL_SIZE = 50
REDIS_POOL_WAIT = 10.0
# aiosqlite's debug lines carry every SQL parameter, mail bodies with reset links included.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def create_app(settings: Settings, *, clock: Clock | None = None) -> Starlette:
    """Build the portal for `settings`; databases and Redis are opened by its lifespan."""
    settings.check_serving()
    clock = clock or Clock()
    passwords = Passwords.from_settings(settings)
    assets = Assets(settings.static_dir, watch=settings.reload_templates)
    templates = make_templates(
        auto_reload=settings.reload_templates,
        assets=assets,
        tabs=tabs.TABS,
        context_processors=[shell_context],
        brand=settings.brand,
        passkeys=settings.passkey_rp_id is not None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Shared]]:
        engine = make_engine(settings.database_url)
        redis = make_redis(settings.redis_url) if settings.redis_url else None
        sessionmaker = make_sessionmaker(engine)
        store: PortalStore
        if redis is not None:
            store = RedisStore(redis, settings.secret_key, settings.redis_prefix, clock=clock)
        else:
            store = DatabaseStore(engine, settings.secret_key, clock=clock)
        shared = Shared(
            settings=settings,
            templates=templates,
            engine=engine,
            sessionmaker=sessionmaker,
            passwords=passwords,
            store=store,
            throttle=Throttle.from_settings(settings, redis, clock),
            mail=MailSender(settings, sessionmaker),
            redis=redis,
            clock=clock,
        )
        if settings.demo:
            # The demo's own SMTP server, so a newcomer can read and click the reset link. Its
            # debug log would print every message, reset links included.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
            shared.mail_sink = MailSink(settings.smtp_host, settings.smtp_port)
            await anyio.to_thread.run_sync(shared.mail_sink.start)
        app.state.shared = shared  # for tests and benchmarks that look inside
        await anyio.to_thread.run_sync(devices.prepare)  # sign-ins then read browsers at once
        tasks = [asyncio.create_task(shared.mail.run())]
        if redis is None:
            tasks.append(asyncio.create_task(_purge_forever(store)))
        # What exists now lives as long as the app (modules, templates, engines): the cyclic
        # collector need not walk it again and again. A full walk takes tens of milliseconds,
        # which requests would wait through.
        gc.collect()
        gc.freeze()
        try:
            yield {STATE_KEY: shared}
        finally:
            gc.unfreeze()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if shared.mail_sink is not None:
                await anyio.to_thread.run_sync(shared.mail_sink.stop)
            if redis is not None:
                await redis.aclose()
            await db.dispose(engine)
            await asyncio.to_thread(passwords.close)

    gallery_on = gallery.enabled(settings)
    middleware = [
        Middleware(AccessLogMiddleware),
        Middleware(
            SecurityHeadersMiddleware,
            https=settings.https,
            connect=settings.sip_origins,
            images=settings.brand.logo_origins,
            framed_gallery=gallery_on,
        ),
        Middleware(errors.ErrorPageMiddleware),
        Middleware(BodySizeLimitMiddleware),
        Middleware(
            SessionMiddleware,
            idle_seconds=settings.session_idle_seconds,
            refresh_seconds=settings.session_refresh_seconds,
            https_only=settings.https,
            listed_on=frozenset({tabs.settings.TAB.path}),
            clock=clock,
        ),
    ]
    routes = [
        *tabs.routes,
        *phone_routes.routes,
        *password_routes.routes,
        *devices_routes.routes,
        *passkeys_routes.routes,
        *signin_routes.routes,
        *reset_routes.routes,
        *health.routes,
        *site.routes,
        *(devmail.routes if settings.demo else []),
        *(gallery.routes if gallery_on else []),
        Mount("/static", assets, name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=errors.exception_handlers,
        lifespan=lifespan,
    )
    return app


def make_redis(url: str) -> Redis:
    """The app's Redis client: a bounded pool that queues, and a command retried once.

    The retry is for connections that were pooled before Redis restarted: each is dead, and
    without it the first command on each would fail its request after Redis is back.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return Redis.from_pool(pool)


async def _purge_forever(store: PortalStore) -> None:
    assert isinstance(store, DatabaseStore)
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            removed = await store.purge_expired()
            if removed:
                log.info("purged %d expired sessions", removed)
        except Exception:
            log.exception("purging expired sessions failed")
