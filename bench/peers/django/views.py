from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from bench.peers.django.models import SignedIn

PASSKEYS_MAX = 10


@login_required
def settings_tab(request: HttpRequest) -> HttpResponse:
    """The Settings tab's fragment, as htmx asks for it (the page shell is not measured)."""
    current = request.session.session_key
    live = (
        SignedIn.objects.filter(user=request.user, session__expire_date__gt=timezone.now())
        .select_related("session")
        .order_by("-session__expire_date")
    )
    # This device first, then the most recently active.
    signed_in = sorted(live, key=lambda row: row.pk != current)
    context = {
        "passkeys": list(request.user.passkeys.all()),  # type: ignore[union-attr]
        "passkeys_max": PASSKEYS_MAX,
        "signed_in": signed_in,
        "others": any(row.pk != current for row in signed_in),
        "current": current,
    }
    response = render(request, "tab.html", context)
    response["Vary"] = "HX-Request"
    return response
