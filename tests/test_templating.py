"""The templates' helpers, and fragments rendered for htmx."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest
from starlette.requests import Request

from portal.web.shared import STATE_KEY
from portal.web.templating import Templates, whole_usernames


def test_a_username_in_a_message_is_kept_whole_and_the_rest_escaped() -> None:
    kept = whole_usernames("Enter it like 201-wickedsprockets, not <b>201</b>.")

    assert str(kept) == (
        'Enter it like <span class="nowrap">201-wickedsprockets</span>, not &lt;b&gt;201&lt;/b&gt;.'
    )
    assert str(whole_usernames("a well-known word")) == "a well-known word"  # not a username


PAGES = {
    "layout.html": (
        "<title>{% block title %}Portal{% endblock %}</title>"
        "<nav>{% block tabs %}[{{ self.title() }}]{% endblock %}</nav>"
        "<main>{% block tab %}{% endblock %}</main>"
    ),
    "page.html": (
        '{% extends "layout.html" %}'
        "{% block title %}{{ name }} · {{ super() }}{% endblock %}"
        "{% block tab %}<h1>{{ name }}</h1>{% endblock %}"
    ),
}


def _request() -> Request:
    settings = SimpleNamespace(session_idle_seconds=14400)
    return Request(
        {"type": "http", "headers": [], "state": {STATE_KEY: SimpleNamespace(settings=settings)}}
    )


def test_fragments_render_as_the_whole_page_renders_them() -> None:
    """Blocks of the page and of its layout, in the order asked, each as the whole page shows
    it: `super()` reaches the layout's block, and `self.title()` in the layout's block the
    page's."""
    env = jinja2.Environment(loader=jinja2.DictLoader(PAGES), autoescape=True)
    templates = Templates(env)
    context = {"name": "Settings <&>"}
    whole = env.get_template("page.html").render(context)

    fragment = templates.render_fragment(_request(), "page.html", context, ["tab", "tabs", "title"])

    assert fragment == (
        "<h1>Settings &lt;&amp;&gt;</h1>"
        "[Settings &lt;&amp;&gt; · Portal]"
        "Settings &lt;&amp;&gt; · Portal"
    )
    assert "<nav>[Settings &lt;&amp;&gt; · Portal]</nav>" in whole
    with pytest.raises(LookupError, match="no block 'missing'"):
        templates.render_fragment(_request(), "page.html", context, ["tab", "missing"])
