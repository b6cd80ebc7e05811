"""`solbot sim serve` for other programs: its banner names the mints it trades, and its faucet
(`solbot sim fund`, or POST /sim/fund) gives any address SOL or tokens, read back over the RPC
by another client; what it cannot do is one line and exit 2. Everything on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from solbot.chain.builders import associated_token_address

from .support import SOLBOT, SimServer, clean_env, sim_server


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimServer]:
    with sim_server(tmp_path / "sim") as server:
        yield server
    assert server.stop() == 0, server.output()


def fund(sim: SimServer | None, *args: str) -> subprocess.CompletedProcess[str]:
    url = ["--url", sim.jupiter_url] if sim is not None else []
    return subprocess.run(
        [*SOLBOT, "sim", "fund", *args, *url],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def mints(sim: SimServer) -> dict[str, tuple[str, int]]:
    """The banner's `mint SYMBOL ADDRESS (N decimals)` lines."""
    pattern = re.compile(r"^\s+mint (\w+)\s+(\w+)\s+\((\d+) decimals\)", re.M)
    return {m[1]: (m[2], int(m[3])) for m in pattern.finditer(sim.output())}


async def test_any_address_is_funded_and_another_client_sees_it(sim: SimServer) -> None:
    known = mints(sim)
    assert {"USDC", "JUP"} <= set(known), sim.output()
    someone = Keypair().pubkey()

    done = fund(sim, str(someone), "--token", "usdc", "--amount", "250.5")
    assert done.returncode == 0, done.stderr
    assert f"250.5 USDC to {someone} (now 250.5 USDC)" in done.stdout
    again = fund(sim, str(someone), "--token", "USDC", "--amount", "0.5")
    assert "0.5 USDC" in again.stdout
    assert "(now 251 USDC)" in again.stdout
    assert fund(sim, str(someone), "--amount", "2").returncode == 0  # SOL by default

    usdc_mint, decimals = known["USDC"]
    async with AsyncClient(sim.rpc_url, commitment=Confirmed) as client:
        assert (await client.get_balance(someone)).value == 2 * 10**9
        account = associated_token_address(someone, Pubkey.from_string(usdc_mint))
        balance = (await client.get_token_account_balance(account)).value
        assert Decimal(balance.ui_amount_string) == Decimal("251")
        assert balance.decimals == decimals


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["not-an-address"], "is not a base58 address"),
        (["{address}", "--token", "DOGE"], "the sim trades no token 'DOGE'"),
        (["{address}", "--amount", "-3"], "amount must be above 0"),
        (["{address}", "--amount", "lots"], "is not a number"),
        (["{address}", "--token", "USDC", "--amount", "0.0000001"], "USDC has 6 decimals"),
        (["{address}", "--amount", "1e40"], "amount must be above 0 and below"),
    ],
)
def test_what_the_faucet_cannot_do_is_one_line(sim: SimServer, args: list[str], says: str) -> None:
    address = str(Keypair().pubkey())
    done = fund(sim, *(a.replace("{address}", address) for a in args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr


def test_the_faucet_endpoint_names_what_a_request_lacks(sim: SimServer) -> None:
    with httpx.Client(trust_env=False) as http:
        answer = http.post(f"{sim.jupiter_url}/sim/fund", json={"token": "SOL", "amount": "1"})
        garbage = http.post(f"{sim.jupiter_url}/sim/fund", content=b"{not json")
    assert answer.status_code == 400
    assert answer.json() == {"error": "missing 'address'"}
    assert garbage.status_code == 400


def test_without_a_served_sim_the_faucet_says_how_to_start_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [*SOLBOT, "sim", "fund", str(Keypair().pubkey()), "--url", "http://127.0.0.1:9"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "start `solbot sim serve`" in done.stderr


def test_a_fast_busy_sim_says_what_clients_will_meet(sim: SimServer, tmp_path: Path) -> None:
    assert "a blockhash lives" not in sim.output()  # 1x: 60 real seconds, as on mainnet
    args = ("--speed", "600", "--congestion", "5000", "--busy", "0.25")
    with sim_server(tmp_path / "fast", *args) as fast:
        banner = fast.output()
    assert fast.stop() == 0
    assert "a blockhash lives 150 blocks = 0.1 real seconds at 600x" in banner, banner
    assert "need --speed 1 or less" in banner
    assert "busy 25% of the time in spells of 50 slots: bids under 5,000" in banner
