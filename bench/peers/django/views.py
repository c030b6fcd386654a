from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def settings_tab(request: HttpRequest) -> HttpResponse:
    """The Settings tab's fragment, as htmx asks for it (the page shell is not measured)."""
    response = render(request, "tab.html")
    response["Vary"] = "HX-Request"
    return response
