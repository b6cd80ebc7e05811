"""The report browser (the operator's): the backtest and optimize reports in the reports
folder (`solbot backtest --report`, `solbot optimize`), listed by the API and served as
they were written, read-only.

A report is a page of our own making with inline scripts (plotly's figures), so it is served
under a sandbox (`Content-Security-Policy: sandbox allow-scripts`): it runs as an origin of
its own, with no access to the dashboard's cookies or API. Its plotly.js, a file beside it,
is served to anyone (a public library: a sandboxed page's request carries no cookie). Only
plain file names in the folder itself are served: no path, no hidden file, no link out."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from solbot.web import models
from solbot.web.auth import Caller, Services, operator_only
from solbot.web.errors import ApiError

router = APIRouter(tags=["read"])
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
PLOTLY = re.compile(r"plotly-[0-9][0-9A-Za-z.+-]{0,40}\.min\.js")
TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png"}
REPORT_CSP = (
    "sandbox allow-scripts allow-popups allow-downloads; default-src 'none'; "
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; frame-ancestors 'none'"
)


def kind_of(name: str) -> Literal["backtest", "optimize", "other"]:
    for kind in ("backtest", "optimize"):
        if name.startswith(f"{kind}_"):
            return kind  # type: ignore[return-value]
    return "other"


def listed(folder: Path) -> list[models.Report]:
    """The HTML reports in `folder`, newest first, each with its chart image if it has one."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.suffix != ".html" or not NAME.fullmatch(path.name) or not _plain(path, folder):
            continue
        image = path.with_suffix(".png")
        stat = path.stat()
        found.append(
            models.Report(
                name=path.name,
                kind=kind_of(path.name),
                written_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                size_bytes=stat.st_size,
                image=image.name if _plain(image, folder) else None,
            )
        )
    return sorted(found, key=lambda r: (r.written_at, r.name), reverse=True)


def _plain(path: Path, folder: Path) -> bool:
    """A regular file directly in `folder` (not a link anywhere else)."""
    return path.is_file() and not path.is_symlink() and path.resolve().parent == folder.resolve()


def _file(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path:
    path = folder / name
    if not NAME.fullmatch(name) or path.suffix not in suffixes or not _plain(path, folder):
        raise ApiError(404, f"no report {name!r}")
    return path


@router.get("/api/v1/reports", response_model=list[models.Report], summary="Reports (operator)")
async def reports(who: Caller, web: Services) -> list[models.Report]:
    """The backtest and optimize reports written on this machine; `/reports/{name}` opens one."""
    operator_only(who)
    return listed(web.settings.reports_dir)


@router.get("/reports/plotly-{version}.min.js", include_in_schema=False)
async def library(version: str, web: Services) -> Response:
    """A sandboxed report's plotly.js (its request carries no cookie): a public library."""
    name = f"plotly-{version}.min.js"
    if not PLOTLY.fullmatch(name):
        raise ApiError(404, f"no report {name!r}")
    path = _file(web.settings.reports_dir, name, (".js",))
    return FileResponse(path, media_type="text/javascript; charset=utf-8")


@router.get("/reports/{name}", include_in_schema=False)
async def report(name: str, who: Caller, web: Services) -> Response:
    """A report as it was written, sandboxed (the operator's)."""
    operator_only(who)
    path = _file(web.settings.reports_dir, name, tuple(TYPES))
    headers = {"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"}
    return FileResponse(path, media_type=TYPES[path.suffix], headers=headers)
