"""A web3.js wallet (`web3js/wallet.mjs`, `@solana/web3.js` 1.x under Node) against `solbot sim
serve`, as it would run against `solana-test-validator`: balance, latest blockhash, a SOL transfer
sent with `sendAndConfirmTransaction` (confirmed over the websocket on port + 1), balances and
signature statuses read back. Everything stays on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.pubkey import Pubkey

from .support import SimServer, clean_env, sim_server

WEB3JS = Path(__file__).parent / "web3js"
INSTALL = "npm ci --prefix tests/integration/web3js"
LAMPORTS = 12_345_678
FEE_PER_SIGNATURE = 5_000


def run_wallet(rpc_url: str, secret: str, lamports: int) -> dict[str, Any]:
    """`node wallet.mjs` against `rpc_url`; the JSON line it printed (fails the test otherwise)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (node) is not on PATH: install Node 20, then run " + INSTALL)
    if not (WEB3JS / "node_modules" / "@solana" / "web3.js").is_dir():
        pytest.fail(f"web3.js is not installed in {WEB3JS}: run `{INSTALL}` from the repository")
    try:
        done = subprocess.run(
            [node, "wallet.mjs", rpc_url, secret, str(lamports)],
            cwd=WEB3JS,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"wallet.mjs did not finish in 60 s:\n{exc.stdout}\n{exc.stderr}")
    described = f"wallet.mjs exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, described
    lines = done.stdout.strip().splitlines()
    assert lines, described
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimServer]:
    """A sim of its own at the wall clock's pace, as `solana-test-validator` runs: web3.js
    confirms by block height, and on the package's 600x sim a blockhash lives 0.1 s of real
    time, which a loaded machine's Node start-up alone can outlast."""
    with sim_server(tmp_path / "sim", "--speed", "1") as server:
        yield server
    assert server.stop() == 0, server.output()


async def test_a_web3js_wallet_sends_and_confirms_a_transfer(sim: SimServer) -> None:
    result = run_wallet(sim.rpc_url, sim.secret, LAMPORTS)
    described = json.dumps(result, indent=2)

    assert result["payer"] == str(sim.wallet.pubkey()), described
    assert result["lamports"] == LAMPORTS
    assert result["recipientAfter"] == LAMPORTS, described
    assert result["signatures"] == 1, described
    fee = FEE_PER_SIGNATURE * result["signatures"]
    assert result["payerBefore"] - result["payerAfter"] == LAMPORTS + fee, described

    status = result["status"]
    assert status is not None, described
    assert status["err"] is None, described
    assert status["status"] == {"Ok": None}, described
    assert status["confirmationStatus"] in ("confirmed", "finalized"), described
    # The websocket on port + 1 answered too: the signature's notification and a new slot.
    assert result["signatureNotification"] == {"err": None, "slot": status["slot"]}, described
    assert result["slotNotification"]["slot"] > status["slot"], described

    # And the chain agrees when read by another client.
    async with AsyncClient(sim.rpc_url) as client:
        recipient = Pubkey.from_string(result["recipient"])
        assert (await client.get_balance(recipient, Confirmed)).value == LAMPORTS
