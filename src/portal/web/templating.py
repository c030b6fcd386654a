"""Jinja templates; a whole page for the browser, named blocks of it for htmx."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import jinja2
from jinja2 import nodes
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from portal.base.brand import Brand
from portal.base.resources import static_dir, templates_dir
from portal.web import csrf
from portal.web.assets import Assets
from portal.web.htmx import is_htmx
from portal.web.shared import shared_of

ContextProcessor = Callable[[Request], dict[str, Any]]
# A username as hints and messages show it, `201-wickedsprockets`.
_USERNAME = re.compile(r"\b\d{1,16}-[a-z][a-z0-9-]*[a-z0-9]\b")


def whole_usernames(text: str) -> Markup:
    """`text`, escaped, with each username in it kept on one line: broken at its hyphen,
    `201-` and `wickedsprockets` read as two things, or as a username ending in a hyphen."""
    kept = _USERNAME.sub(r'<span class="nowrap">\g<0></span>', str(escape(text)))
    return Markup(kept)  # noqa: S704 - escaped above; the pattern matches no markup


class _Environment(jinja2.Environment):
    """Jinja's environment with each template's globals in a plain dict.

    Jinja chains them to the environment's in a ChainMap, so that globals set after a
    template loaded still reach it; every render then walks that map to copy the globals into
    its context, and every `{% from … import %}` walks it again to see whether the importing
    context holds globals of its own. The portal sets its globals once, before any template
    loads (`make_templates`), so a copy made at load time reads the same and costs a dict.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class Templates(Jinja2Templates):
    """Starlette's templates, plus rendering named blocks found anywhere up the `extends` chain.

    A page names its fragment blocks; some live in the page (the tab), some in its layout
    (the tab bar).
    """

    def __init__(
        self, env: jinja2.Environment, context_processors: Sequence[ContextProcessor] = ()
    ) -> None:
        super().__init__(env=env, context_processors=[_common_context, *context_processors])
        self._chains: dict[str, tuple[str, ...]] = {}

    def chain(self, name: str) -> tuple[str, ...]:
        """`name` and the templates it extends, the page first."""
        chain = self._chains.get(name)
        if chain is None or self.env.auto_reload:
            names: list[str] = []
            current: str | None = name
            while current is not None:
                names.append(current)
                current = self._parent(current)
            chain = self._chains[name] = tuple(names)
        return chain

    def _parent(self, name: str) -> str | None:
        assert self.env.loader is not None
        source, _, _ = self.env.loader.get_source(self.env, name)
        extends = self.env.parse(source).find(nodes.Extends)
        if extends is None or not isinstance(extends.template, nodes.Const):
            return None
        return str(extends.template.value)

    def render_fragment(
        self, request: Request, name: str, context: dict[str, Any], blocks: Sequence[str]
    ) -> str:
        """`blocks` of `name`, in order, rendered in one context as the whole page would be.

        One context for them all, since making one copies every variable. It holds the blocks
        of the whole extends chain, as a full render's does, for `self.name()` and `super()`.
        """
        context = {"request": request, **context}
        for processor in self.context_processors:
            context.update(processor(request))
        env = self.env
        page, *parents = (env.get_template(owner) for owner in self.chain(name))
        ctx = page.new_context(context)
        for parent in parents:
            for block, render in parent.blocks.items():
                ctx.blocks.setdefault(block, []).append(render)
        missing = [block for block in blocks if block not in ctx.blocks]
        if missing:
            raise LookupError(f"no block {missing[0]!r} in {name!r} or its parents")
        try:
            return "".join(env.concat(ctx.blocks[block][0](ctx)) for block in blocks)
        except Exception:
            env.handle_exception()
            raise


def make_templates(
    *,
    auto_reload: bool = False,
    assets: Assets | None = None,
    tabs: Sequence[object] = (),
    context_processors: Sequence[ContextProcessor] = (),
    brand: Brand | None = None,
    passkeys: bool = False,
) -> Templates:
    """The portal's templates; `static("css/portal.css")` in them names fingerprinted files.

    `tabs` is the tab bar's registry (`portal.tabs.TABS`); `context_processors` add to every
    page's context (the softphone in the page shell: `portal.phone.view.shell_context`);
    `brand` is the operator's name, accent and logo (`Settings.brand`); `passkeys` whether
    the base URL can be a passkey relying party, so that pages load static/js/passkeys.js.
    """
    assets = assets or Assets(static_dir(), watch=auto_reload)
    env = _Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        auto_reload=auto_reload,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = assets.url
    env.globals["tabs"] = tabs
    env.globals["brand"] = brand or Brand()
    env.globals["passkeys_on"] = passkeys
    env.filters["title_case"] = title_case
    env.filters["whole_usernames"] = whole_usernames
    return Templates(env, context_processors)


# Words that stay lower-case inside a title (Chicago style), unless they start it.
_SMALL_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "but", "by", "for", "in", "nor", "of", "on", "or", "the", "to"]
)


def title_case(text: str) -> str:
    """`Page not found` as a page title: `Page Not Found`."""
    words = text.split(" ")
    return " ".join(
        word if (index and word in _SMALL_WORDS) or not word else word[0].upper() + word[1:]
        for index, word in enumerate(words)
    )


def _common_context(request: Request) -> dict[str, Any]:
    # csrf_token is a function, so that only pages with a form start a session to hold it.
    return {
        "csrf_token": lambda: csrf.token(request),
        "htmx": is_htmx(request),
        "account": getattr(request.state, "account", None),
        "idle_seconds": shared_of(request).settings.session_idle_seconds,
    }


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: Sequence[str] = (),
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render `name` whole, or only its `fragment` blocks when htmx asks (chosen by HX-Request)."""
    templates = shared_of(request).templates
    assert isinstance(templates, Templates)
    response: Response
    if fragment and is_htmx(request):
        content = templates.render_fragment(request, name, dict(context or {}), fragment)
        response = HTMLResponse(content, status_code, headers)
    else:
        response = templates.TemplateResponse(
            request, name, dict(context or {}), status_code, headers
        )
    response.headers["Vary"] = "HX-Request"
    return response
