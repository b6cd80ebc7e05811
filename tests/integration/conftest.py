"""One fault-free `solbot sim serve` for the package's tests: starting it costs a process start,
and each test trades its own wallet on it, so they do not see each other's positions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import SimServer, sim_server

SPEED = 600  # simulated seconds per real second: a 1-minute candle every 0.1 s


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    folder: Path = tmp_path_factory.mktemp("sim")
    # Enough sim money for the wallets the crash tests fund, not so much that the printed wallet
    # trades sizes the maker refuses (price impact above the cap).
    with sim_server(folder, "--speed", str(SPEED), SOLBOT_SIM_WALLET_USDC="25000") as server:
        yield server
    assert server.stop() == 0, server.output()
