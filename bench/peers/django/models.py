"""The peer's own data for the tab's two lists, kept as a Django developer would: passkeys in a
model of their own, and where the user is signed in as a row beside each of Django's database
sessions, made at sign-in (what django-user-sessions keeps, on `django.contrib.sessions`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import ua_parser
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

UNKNOWN_BROWSER = "Unknown Browser"


class Passkey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    name = models.CharField(max_length=64)
    added_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("added_at",)


class SignedIn(models.Model):
    """One session of a user, as the list shows it; it goes when its session is deleted."""

    session = models.OneToOneField(Session, primary_key=True, on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in"
    )
    browser = models.CharField(max_length=100)
    system = models.CharField(max_length=100, blank=True)
    address = models.GenericIPAddressField()
    since = models.DateTimeField(auto_now_add=True)

    @property
    def label(self) -> str:
        if self.browser == UNKNOWN_BROWSER or not self.system:
            return self.browser
        return f"{self.browser} on {self.system}"

    @property
    def handle(self) -> str:
        """What a row's Sign Out names it by: never the session key itself."""
        return salted_hmac("peer-signed-in", self.pk).hexdigest()[:32]

    @property
    def last_active(self) -> datetime:
        # Saved on every request: the session's expiry is its last request plus the cookie age.
        expiry: datetime = self.session.expire_date
        return expiry - timedelta(seconds=settings.SESSION_COOKIE_AGE)


def record_sign_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """On `user_logged_in`: the new session (login() has just saved it) gets its row."""
    parsed = ua_parser.parse(request.headers.get("User-Agent", "")[:1000]).with_defaults()
    browser, system = parsed.user_agent.family, parsed.os.family
    SignedIn.objects.create(
        session_id=request.session.session_key,
        user=user,
        browser=UNKNOWN_BROWSER if browser == "Other" else browser,
        system="" if system == "Other" else system,
        address=request.META.get("REMOTE_ADDR", ""),
    )
