"""The portal's emails, rendered from templates/email/ (plain text with an HTML alternative)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from portal.base.resources import templates_dir
from portal.domain.mail import Email


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "email"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, recipient: str, subject: str, **context: Any) -> Email:
    """`name`.txt and `name`.html with the same context, as one message."""
    context = {"subject": subject, **context}
    return Email(
        recipient=recipient,
        subject=subject,
        text=_env().get_template(f"{name}.txt").render(context),
        html=_env().get_template(f"{name}.html").render(context),
    )


def reset_link(
    recipient: str, *, brand: str, username: str, tenant_name: str, link: str, hours: str
) -> Email:
    return render(
        "reset",
        recipient,
        f"Reset your {brand} password",
        brand=brand,
        username=username,
        tenant_name=tenant_name,
        link=link,
        hours=hours,
    )


def password_changed(
    recipient: str, *, brand: str, username: str, tenant_name: str, how: str
) -> Email:
    return render(
        "changed",
        recipient,
        f"Your {brand} password was changed",
        brand=brand,
        username=username,
        tenant_name=tenant_name,
        how=how,
    )


def new_device(
    recipient: str,
    *,
    brand: str,
    username: str,
    tenant_name: str,
    device: str,
    address: str,
    when: str,
    link: str,
) -> Email:
    return render(
        "new_device",
        recipient,
        f"New sign-in to {brand}",
        brand=brand,
        username=username,
        tenant_name=tenant_name,
        device=device,
        address=address,
        when=when,
        link=link,
    )
