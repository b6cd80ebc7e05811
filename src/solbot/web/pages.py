"""The dashboard's pages: one page (`static/index.html`) that draws every view from the API,
its script and style, and plotly.js from the plotly package (no build step, nothing fetched
from elsewhere: the assets ship in the package). The page's Content-Security-Policy allows
scripts from this origin only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from solbot.web.errors import ApiError

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@cache
def _plotly() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _files() -> dict[str, Path]:
    return {"app.js": STATIC / "app.js", "app.css": STATIC / "app.css", "plotly.min.js": _plotly()}


@router.get("/")
@router.get("/signin")  # a one-time link: its secret is in the fragment, which the page reads
async def page() -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    path = _files().get(name)
    if path is None:
        raise ApiError(404, f"no file {name!r}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
