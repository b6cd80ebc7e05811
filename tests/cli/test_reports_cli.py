"""What the operator reads, through the real CLI on both databases: `list-users`, `positions`,
`trades` and `data list` as tables (whole addresses and signatures where they fit or are asked
for) and as JSON with stable keys, exact amounts as strings, and no secret."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.sim.network import SimNetwork
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.positions import Positions, Trades
from solbot.store.states import Purpose, Side
from solbot.store.tables import UserRow

from .support import NOW, Run, users_of
from .test_quarantine_cli import quarantine
from .test_users_cli import add

TOKENS = {t.symbol: t.to_domain() for t in DEFAULT_TOKENS}
SIGNATURE = "5" * 87  # a transaction signature's length in base58
BONK_ATOMS = 123_456_789_012_345  # 1,234,567,890.12345 BONK: more than a double holds exactly


def fund_in_sim(data_dir: Path, address: str, lamports: int, usdc_atoms: int) -> None:
    """A saved sim world (as `solbot run` leaves one) in which `address` holds SOL and USDC."""
    network = SimNetwork.create(
        tokens=list(TOKENS.values()),
        clock=ManualClock(NOW),
        seed=7,
        history_seconds=600,
        wallet_sol=1,
        wallet_usdc=0,
    )
    owner = Pubkey.from_string(address)
    network.ledger.airdrop(owner, lamports)
    network.ledger.set_token_balance(owner, Pubkey.from_string(TOKENS["USDC"].mint), usdc_atoms)
    network.save(data_dir / "sim" / "sim-state.json")
    network.close()


def trade(url: str, username: str) -> None:
    """A BONK buy of `username` that is still open, and a closed JUP round trip with its PnL."""

    async def seed() -> None:
        db = Database(url)
        clock = ManualClock(NOW - 3600)
        try:
            async with db.session() as s:
                user = (await s.scalars(select(UserRow).where(UserRow.username == username))).one()
                orders, positions, trades = Orders(s, clock), Positions(s, clock), Trades(s, clock)
                for n, (token, side, qty) in enumerate(
                    [("BONK", Side.BUY, BONK_ATOMS), ("JUP", Side.BUY, 5_000_000)]
                ):
                    order = await orders.create(
                        idempotency_key=f"{token}:{n}",
                        user_id=user.id,
                        token=token,
                        input_mint=TOKENS["USDC"].mint,
                        output_mint=TOKENS[token].mint,
                        side=side,
                        purpose=Purpose.ENTRY,
                        amount_in=4_000_000,
                    )
                    position = await positions.open(
                        user_id=user.id,
                        token=token,
                        mint=TOKENS[token].mint,
                        quantity=qty,
                        cost=4_000_000,
                        entry_price=Decimal("0.8"),
                    )
                    await trades.record(
                        user_id=user.id,
                        order_id=order.id,
                        position_id=position.id,
                        token=token,
                        side=side,
                        price=Decimal("0.8"),
                        quantity=qty,
                        quote_amount=4_000_000,
                        fee_lamports=5000,
                        signature=SIGNATURE if token == "JUP" else None,
                    )
                jup = await positions.open_for(user.id, "JUP")
                assert jup is not None
                await positions.close(
                    jup.id,
                    exit_price=Decimal("1.1"),
                    proceeds=5_500_000,
                    pnl=Decimal("1.5"),
                    exit_reason="take_profit",
                )
        finally:
            await db.dispose()

    asyncio.run(seed())


def as_json(done: Any) -> dict[str, Any]:
    assert done.code == 0, done.err
    return json.loads(done.out)


def leaves(document: Any) -> Iterator[Any]:
    if isinstance(document, dict):
        for value in document.values():
            yield from leaves(value)
    elif isinstance(document, list):
        for value in document:
            yield from leaves(value)
    else:
        yield document


def no_floats(document: Any) -> None:
    floats = [leaf for leaf in leaves(document) if isinstance(leaf, float)]
    assert floats == [], floats


# ---------------------------------------------------------------------------------- list-users
def test_list_users_json_has_whole_addresses_exact_balances_and_no_secret(
    cli: Run, empty_url: str, data_dir: Path
) -> None:
    address, secret = add(cli, "alice")
    add(cli, "bob", "--tier", "aggressive")
    cli("pause", "-u", "bob", "--reason", "holiday")
    fund_in_sim(data_dir, address, 1_234_567_891, 1_000_123_456)
    trade(empty_url, "alice")

    document = as_json(cli("list-users", "--json"))

    no_floats(document)
    assert document["quote"] == "USDC"
    assert "sim world" in document["balances"]
    alice, bob = document["users"]
    assert alice["username"] == "alice"
    assert alice["address"] == address
    assert alice["sol_lamports"] == "1234567891"
    assert alice["sol"] == "1.234567891"
    assert alice["cash_atoms"] == "1000123456"
    assert alice["cash"] == "1000.123456"
    assert alice["positions"] == [
        {"token": "BONK", "quantity": "1234567890.12345", "quantity_atoms": str(BONK_ATOMS)}
    ]
    assert alice["open_positions"] == 1
    assert (alice["active"], alice["custody"], alice["risk_tier"]) == (True, "vault", "moderate")
    assert bob["username"] == "bob"
    assert (bob["active"], bob["paused_reason"], bob["risk_tier"]) == (
        False,
        "holiday",
        "aggressive",
    )
    assert bob["sol_lamports"] == "0"
    (row,) = [u for u in users_of(empty_url) if u.username == "alice"]
    text = cli("list-users", "--json").out
    assert secret not in text
    assert row.encrypted_private_key.hex() not in text
    assert set(alice) == {
        "id",
        "username",
        "address",
        "custody",
        "active",
        "paused_reason",
        "risk_tier",
        "max_position_size_pct",
        "max_daily_loss_pct",
        "sol",
        "sol_lamports",
        "cash",
        "cash_atoms",
        "portfolio_value",
        "open_positions",
        "positions",
        "pnl_today",
    }


def test_list_users_json_without_users_is_an_empty_list(cli: Run) -> None:
    assert as_json(cli("list-users", "--json")) == {
        "quote": "USDC",
        "balances": "no users",
        "users": [],
    }


def test_list_users_json_without_a_sim_world_has_no_balances(cli: Run) -> None:
    add(cli, "alice")
    document = as_json(cli("list-users", "--json"))
    (alice,) = document["users"]
    assert (alice["sol"], alice["sol_lamports"], alice["cash"], alice["cash_atoms"]) == (
        None,
        None,
        None,
        None,
    )
    assert "no sim world yet" in document["balances"]
    assert as_json(cli("list-users", "--json")) == document  # stable


def table_on_a_terminal(
    cli: Run, monkeypatch: pytest.MonkeyPatch, columns: int, *args: str
) -> list[str]:
    """The command's output on a terminal `columns` wide (without colours)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(columns))
    done = cli(*args)
    assert done.code == 0, done.err
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.out)
    assert max(len(line) for line in plain.splitlines()) <= columns
    return plain.splitlines()


def test_list_users_shows_whole_addresses_when_the_terminal_is_wide_enough(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, _ = add(cli, "alice")
    wide = table_on_a_terminal(cli, monkeypatch, 220, "list-users")
    assert any(address in line for line in wide)
    narrow = table_on_a_terminal(cli, monkeypatch, 130, "list-users")
    assert not any(address in line for line in narrow)
    assert any(f"{address[:4]}…{address[-4:]}" in line for line in narrow)


def test_list_users_in_a_pipe_keeps_whole_addresses(cli: Run) -> None:
    address, _ = add(cli, "alice")
    done = cli("list-users")
    assert done.code == 0, done.err
    assert address in done.out


# ---------------------------------------------------------------------------------- positions
def test_positions_json_lists_quantities_exactly_and_holds_with_their_reason(
    cli: Run, empty_url: str
) -> None:
    add(cli, "alice")
    add(cli, "bob")
    trade(empty_url, "alice")
    quarantine(empty_url, "bob", "WIF")

    document = as_json(cli("positions", "--json"))

    no_floats(document)
    assert document["status"] == "open"
    bonk, wif = sorted(document["positions"], key=lambda p: p["token"])
    assert (bonk["user"], bonk["quantity_atoms"], bonk["quantity"]) == (
        "alice",
        str(BONK_ATOMS),
        "1234567890.12345",
    )
    assert (bonk["entry_price"], bonk["cost_atoms"], bonk["cost"]) == ("0.8", "4000000", "4.000000")
    assert bonk["mint"] == TOKENS["BONK"].mint
    assert bonk["orders"] == "ok"
    assert bonk["entry_time"].endswith("+00:00")
    assert wif["user"] == "bob"
    assert wif["orders"] == "quarantined"
    (hold,) = document["holds"]
    assert (hold["user"], hold["token"], hold["side"], hold["state"]) == (
        "bob",
        "WIF",
        "sell",
        "quarantined",
    )
    assert hold["last_error"] == "quote expired"
    assert hold["failures"] == 1

    closed = as_json(cli("positions", "--closed", "--json"))
    (jup,) = closed["positions"]
    assert closed["status"] == "closed"
    assert (jup["token"], jup["exit_price"], jup["pnl"], jup["exit_reason"]) == (
        "JUP",
        "1.1",
        "1.5",
        "take_profit",
    )
    assert (jup["proceeds_atoms"], jup["proceeds"]) == ("5500000", "5.500000")
    assert as_json(cli("positions", "-u", "bob", "--json"))["positions"] == [wif]


# ---------------------------------------------------------------------------------- trades
def test_trades_show_whole_signatures_with_full_and_in_json(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    trade(empty_url, "alice")

    piped = cli("trades")
    assert piped.code == 0, piped.err
    assert SIGNATURE in piped.out  # a pipe or a file has room for whole values
    narrow = table_on_a_terminal(cli, monkeypatch, 100, "trades")
    assert not any(SIGNATURE in line for line in narrow)
    assert any("5555…5555" in line for line in narrow)
    folded = table_on_a_terminal(cli, monkeypatch, 100, "trades", "--full")
    last_cells = [line.split("│")[-2].strip() for line in folded if line.count("│") > 2]
    assert SIGNATURE in "".join(last_cells)

    document = as_json(cli("trades", "--json"))
    no_floats(document)
    assert document["days"] == 7
    bonk, jup = sorted(document["trades"], key=lambda t: t["token"])
    assert jup["signature"] == SIGNATURE
    assert bonk["signature"] is None
    assert (bonk["user"], bonk["side"], bonk["quantity_atoms"], bonk["quantity"]) == (
        "alice",
        "buy",
        str(BONK_ATOMS),
        "1234567890.12345",
    )
    assert (bonk["quote"], bonk["quote_amount_atoms"], bonk["quote_amount"]) == (
        "USDC",
        "4000000",
        "4.000000",
    )
    assert (bonk["price"], bonk["fee_lamports"], bonk["pnl"]) == ("0.8", "5000", None)
    assert bonk["time"].endswith("+00:00")


# ---------------------------------------------------------------------------------- data list
def test_data_list_json_names_each_stored_series(run: Run, data_dir: Path) -> None:
    assert as_json(run("data", "list", "--json")) == {
        "folder": str(data_dir / "candles"),
        "series": [],
    }
    done = run("data", "synth", "--token", "JUP", "--bars", "48", "--seed", "3")
    assert done.code == 0, done.err
    document = as_json(run("data", "list", "--json"))
    (series,) = document["series"]
    assert series == {
        "token": "JUP",
        "timeframe": "1h",
        "first": series["first"],
        "last": series["last"],
        "bars": 48,
    }
    assert series["first"].endswith("+00:00")
    assert series["first"] < series["last"]
