"""The pages a browser opens: the home page (``/``), the API docs (``/docs``), the reporter's
pages (``/report``, ``/case``), the demo platform (``/demo``, only where the demo is set up;
:mod:`hashwall.web.demo`), and their assets.

Everything a page loads comes from this server (``/static/...``), so the pages work where the
server has no way out to the internet and tell no third party who opened them. Swagger UI's
script and stylesheet are the ones the ``fastapi-offline`` package ships (a pinned dependency),
not a CDN's; the home page is ours and runs no script. The reporter's pages run only this
server's ES modules (``/web/...``), which hash photos inside the browser and call the API.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

from hashwall.api.state import ApiState
from hashwall.web import demo
from hashwall.web import render as web

router = APIRouter(include_in_schema=False)

_OURS: Final = Path(str(files("hashwall.api") / "static"))
_SWAGGER_UI: Final = Path(str(files("fastapi_offline") / "static"))

#: The files served under ``/static/``: name -> (file, media type). Nothing else is.
ASSETS: Final = {
    "hashwall.css": (_OURS / "hashwall.css", "text/css; charset=utf-8"),
    "favicon.svg": (_OURS / "favicon.svg", "image/svg+xml"),
    "swagger-ui-bundle.js": (_SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
}

#: The home page may load only this server's stylesheet and icon, and nothing runs on it.
HOME_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_CACHE: Final = "public, max-age=3600"

#: The reporter's pages: their own scripts and workers, calls to this server only, photos shown
#: from blob: URLs made in the page, no inline script, no framing, no referrer.
WEB_POLICY: Final = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "worker-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: A worker's policy comes from its script's response: it imports modules and nothing else.
WEB_SCRIPT_POLICY: Final = "default-src 'none'; script-src 'self'"
_WEB_PAGE_HEADERS: Final = {
    "Content-Security-Policy": WEB_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/", response_class=HTMLResponse)
async def home() -> HTMLResponse:
    """What hashwall is, and links to the docs and the health endpoints."""
    return HTMLResponse(
        (_OURS / "index.html").read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": HOME_POLICY, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, with its assets served from here."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}/static/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        # No validator badge: it would send the schema's address to a public validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    """One of :data:`ASSETS` (404 for any other name)."""
    asset = ASSETS.get(name)
    if asset is None:
        raise HTTPException(status_code=404)
    path, media_type = asset
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/report", response_class=HTMLResponse)
async def report_page() -> HTMLResponse:
    """The reporter's page: photos are hashed in the browser and only their signals are sent."""
    return HTMLResponse(web.render("report"), headers=_WEB_PAGE_HEADERS)


@router.get("/case", response_class=HTMLResponse)
async def case_page() -> HTMLResponse:
    """Check or withdraw a case (case number and PIN go in request bodies, never the URL)."""
    return HTMLResponse(web.render("case"), headers=_WEB_PAGE_HEADERS)


def _demo_platform(request: Request) -> demo.DemoPlatform:
    """The platform ``/demo`` plays; 404, as for any unknown page, when the demo is not set up."""
    state: ApiState = request.app.state.hashwall
    platform = demo.demo_platform(state.settings)
    if platform is None:
        raise HTTPException(status_code=404)
    return platform


@router.get("/demo", response_class=HTMLResponse)
async def demo_page(request: Request) -> HTMLResponse:
    """Plays a platform (only where ``hashwall demo setup`` ran): checks a photo hashed in the
    browser, with the demo platform's key held by the server."""
    _demo_platform(request)
    return HTMLResponse(web.render("demo"), headers=_WEB_PAGE_HEADERS)


async def _forwarded(request: Request, path: str) -> Response:
    platform = _demo_platform(request)
    answer = await demo.forward(request.app, platform, path, await request.body())
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


@router.post("/demo/check")
async def demo_check(request: Request) -> Response:
    """The demo page's check (the body of ``POST /v1/check``), made as the demo platform."""
    return await _forwarded(request, demo.CHECK_PATH)


@router.post("/demo/matches/{match_ref}/verdict")
async def demo_verdict(request: Request, match_ref: str) -> Response:
    """The demo page's verdict on a match, sent as the demo platform."""
    return await _forwarded(request, demo.verdict_path(match_ref))


@router.get("/web/{name:path}")
async def web_static(name: str) -> FileResponse:
    """One of the reporter pages' scripts or stylesheets (404 for any other name)."""
    asset = web.static_files().get(name)
    if asset is None:
        raise HTTPException(status_code=404)
    path, media_type = asset
    return FileResponse(
        path,
        media_type=media_type,
        headers={
            "Cache-Control": _CACHE,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": WEB_SCRIPT_POLICY,
            "Referrer-Policy": "no-referrer",
        },
    )
