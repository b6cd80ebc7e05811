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
from solders.signature import Signature

from solbot.config import DEFAULT_TOKENS
from solbot.sim.rpc_wire import b58encode

from .support import SimServer, clean_env, sim_server

WEB3JS = Path(__file__).parent / "web3js"
INSTALL = "npm ci --prefix tests/integration/web3js"
LAMPORTS = 12_345_678
FEE_PER_SIGNATURE = 5_000
DEFAULT_MINTS = {t.symbol: t.mint for t in DEFAULT_TOKENS}


def run_wallet(rpc_url: str, secret: str, lamports: int) -> dict[str, Any]:
    """`node wallet.mjs` against `rpc_url`; the JSON line it printed (fails the test otherwise)."""
    return run_script("wallet.mjs", rpc_url, secret, str(lamports))


def run_script(script: str, *args: str) -> dict[str, Any]:
    """`node SCRIPT ARGS` in web3js/; the JSON line it printed (fails the test otherwise)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (node) is not on PATH: install Node 20, then run " + INSTALL)
    if not (WEB3JS / "node_modules" / "@solana" / "web3.js").is_dir():
        pytest.fail(f"web3.js is not installed in {WEB3JS}: run `{INSTALL}` from the repository")
    try:
        done = subprocess.run(
            [node, script, *args],
            cwd=WEB3JS,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish in 60 s:\n{exc.stdout}\n{exc.stderr}")
    described = f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
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


async def test_web3js_reads_what_a_bot_reads_around_its_swaps(sim: SimServer) -> None:
    """`methods.mjs`: each method through web3.js's own shape checks (a wrong shape throws
    there), and the answers checked here against the chain."""
    result = run_script("methods.mjs", sim.rpc_url, sim.secret)
    described = json.dumps(result, indent=2)
    payer, recipient, signature = result["payer"], result["recipient"], result["signature"]

    epoch = result["epochInfo"]
    assert isinstance(epoch["transactionCount"], int), described  # web3.js refused null
    assert epoch["transactionCount"] > 0

    # the transfer paid 1,234 micro-lamports a unit: its slot's fee says so, for everyone and
    # for the accounts it locked as writable
    slot = result["parsed"]["slot"]
    for fees in (result["fees"], result["feesForPayer"]):
        assert {"slot", "prioritizationFee"} == set(fees[0]), described
        by_slot = {f["slot"]: f["prioritizationFee"] for f in fees}
        assert by_slot.get(slot) == result["price"], described
        assert max(by_slot) >= slot

    newest = result["signatures"][0]
    assert newest["signature"] == signature, described
    assert newest["slot"] == slot
    assert newest["err"] is None
    assert newest["memo"] is None
    assert newest["blockTime"] == result["blockTime"] == result["parsed"]["blockTime"]
    assert newest["confirmationStatus"] in ("confirmed", "finalized")

    keys = result["parsed"]["accountKeys"]
    assert keys[0] == {"pubkey": payer, "signer": True, "writable": True, "source": "transaction"}
    assert {"pubkey": recipient, "signer": False, "writable": True, "source": "transaction"} in keys
    budget, transfer = result["parsed"]["instructions"]  # agave parses no compute budget
    assert budget == {
        "programId": "ComputeBudget111111111111111111111111111111",
        "accounts": [],
        "data": b58encode(b"\x03" + (1234).to_bytes(8, "little")),
        "stackHeight": None,
    }, described
    assert transfer["program"] == "system"
    assert transfer["parsed"] == {
        "type": "transfer",
        "info": {"source": payer, "destination": recipient, "lamports": 5_000_000},
    }, described

    supply = result["supply"]
    assert int(supply["amount"]) > 0
    assert supply["uiAmountString"] == str(int(supply["amount"]) // 10 ** supply["decimals"])

    assert result["accountNotification"] == {
        "lamports": 5_000_000,
        "owner": "11111111111111111111111111111111",
        "slot": slot,
    }, described
    logs = result["logsNotification"]
    assert logs["signature"] == signature
    assert logs["err"] is None
    assert "Program 11111111111111111111111111111111 success" in logs["logs"]

    assert result["badSignature"] == {
        "code": -32003,
        "message": "Transaction signature verification failure",
    }, described


async def test_a_web3js_bot_lands_a_build_swap_as_jupiters_docs_show(sim: SimServer) -> None:
    """`build.mjs`: Swap v2 `/build` turned into web3.js instructions, the limit sized by a
    simulation, a v0 transaction signed by the taker alone, sent with maxRetries 0 and
    confirmed by block height; it receives exactly `outAmount`."""
    usdc, jup = DEFAULT_MINTS["USDC"], DEFAULT_MINTS["JUP"]
    result = run_script(
        "build.mjs", sim.rpc_url, sim.jupiter_url, sim.secret, usdc, jup, str(25 * 10**6)
    )
    described = json.dumps(result, indent=2)
    assert result["err"] is None, described
    assert result["signers"] == 1, described
    assert result["received"] == result["outAmount"], described
    # getTransaction's token balances, read by web3.js: the same amount, from the swap alone
    assert result["receivedByMeta"] == result["outAmount"], described
    assert result["unitsConsumed"] <= result["unitLimit"] <= result["unitsSimulated"] * 1.2 + 1
    async with AsyncClient(sim.rpc_url, commitment=Confirmed) as client:
        status = await client.get_signature_statuses([Signature.from_string(result["signature"])])
        assert status.value[0] is not None
        assert status.value[0].err is None
