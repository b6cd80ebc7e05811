"""The report browser: the operator lists the reports in the reports folder and opens one as
it was written, under a sandbox; its plotly.js is served without a cookie (a sandboxed page
sends none); a friend gets neither; nothing but a plain file of the folder is served (no
path, no hidden file, no link out). Both databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backtest.report_fixtures import make_result
from solbot.backtest.metrics import compute_metrics
from solbot.backtest.report_charts import write_html
from web.conftest import Site


def write_report(site: Site, name: str = "backtest_sma_cross_1d_2024_abcd1234.html") -> Path:
    folder = site.services.settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    result = make_result([100.0, 104.0, 101.0, 110.0, 121.0])
    path = folder / name
    write_html(result, compute_metrics(result), path)
    path.with_suffix(".png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return path


async def test_the_operator_lists_and_opens_reports(site: Site) -> None:
    operator = site.bearer()
    assert (await operator.get("/api/v1/reports")).json() == []  # none yet, no folder
    path = write_report(site)
    (listed,) = (await operator.get("/api/v1/reports")).json()
    assert listed["name"] == path.name
    assert listed["kind"] == "backtest"
    assert listed["image"] == path.with_suffix(".png").name
    assert listed["size_bytes"] == path.stat().st_size
    page = await operator.get(f"/reports/{path.name}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("sandbox allow-scripts")
    assert "Plotly.newPlot" in page.text
    image = await operator.get(f"/reports/{path.with_suffix('.png').name}")
    assert image.headers["content-type"] == "image/png"
    (library,) = [p.name for p in path.parent.glob("plotly-*.min.js")]
    anonymous = site.client()
    script = await anonymous.get(f"/reports/{library}")  # the sandboxed page's own request
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await anonymous.get(f"/reports/{path.name}")).status_code == 401


async def test_a_friend_gets_no_report(site: Site) -> None:
    path = write_report(site)
    alice = await site.signed_in("alice")
    assert (await alice.get("/api/v1/reports")).status_code == 403
    assert (await alice.get(f"/reports/{path.name}")).status_code == 403


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fsolbot.db",
        "%2E%2E%2Fsecret.html",
        ".hidden.html",
        "outside.html",  # a link to a file elsewhere
        "notes.txt",
        "plotly-9.9.9.min.js",  # not there
        "missing.html",
    ],
)
async def test_nothing_but_a_plain_report_file(site: Site, tmp_path: Path, name: str) -> None:
    path = write_report(site)
    folder = path.parent
    (folder / ".hidden.html").write_text("<p>hidden</p>")
    (folder / "notes.txt").write_text("notes")
    secret = tmp_path / "secret.html"
    secret.write_text("<p>not a report</p>")
    os.symlink(secret, folder / "outside.html")
    operator = site.bearer()
    answer = await operator.get(f"/reports/{name}")
    assert answer.status_code == 404, answer.text
    names = [r["name"] for r in (await operator.get("/api/v1/reports")).json()]
    assert names == [path.name]
