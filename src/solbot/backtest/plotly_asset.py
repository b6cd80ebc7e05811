"""plotly.js beside the reports, once: every HTML report used to embed the whole library (about
4.7 MB), so a folder of backtests was mostly copies of it. Now each page loads
`plotly-<version>.min.js` from its own folder, written (0600) the first time a report goes
there; the pages still open offline, from the disk, with nothing fetched from the network."""

from __future__ import annotations

from pathlib import Path

from solbot.private_files import write_private


def plotly_script(folder: Path) -> str:
    """The `<script>` tag a report in `folder` loads plotly.js with, the file written there if
    it is missing (a version per file name: a report keeps the library it was drawn with)."""
    import plotly
    from plotly.offline import get_plotlyjs

    name = f"plotly-{plotly.__version__}.min.js"
    path = folder / name
    if not path.is_file():
        write_private(path, get_plotlyjs(), durable=False)
    return f'<script src="{name}" charset="utf-8"></script>'
