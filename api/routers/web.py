"""The web page: `GET /` is the page, `GET /ui/{file}` its scripts and styles, all read from the package's
`api/web/` folder (no build step, no CDN: it works offline). The page talks only to the REST API with the
key the user gives it; it is outside the API's schema."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, Response

from api.errors import not_found

WEB_PACKAGE = "api"
WEB_FOLDER = "web"
PAGE = "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from this origin, nothing inline, no framing: a key typed into the page stays with the page.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@functools.lru_cache(maxsize=1)
def web_files() -> dict[str, tuple[bytes, str]]:
    """Every file of the page by name, with its media type (read once)."""
    folder = resources.files(WEB_PACKAGE).joinpath(WEB_FOLDER)
    files = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if item.is_file() and suffix in MEDIA_TYPES:
            files[item.name] = (item.read_bytes(), MEDIA_TYPES[suffix])
    return files


def _file(name: str) -> Response:
    found = web_files().get(name)
    if found is None:
        raise not_found(f"file {name!r}")
    content, media_type = found
    return Response(content, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
def page() -> Response:
    return _file(PAGE)


@router.get("/ui/{name}")
def asset(name: str) -> Response:
    return _file(name)
