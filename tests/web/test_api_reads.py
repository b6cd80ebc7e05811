"""What the reads answer: trades filtered, sorted, paged and exported as CSV; positions,
equity and status (breakers read with the loop's own rule); and never key material, whatever
is asked. Both databases."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from solbot.accounts import gate_key
from solbot.store.tables import MetaEntry, UserRow
from solbot.store.users import Users
from web.conftest import Site, seed_candles


async def test_trades_filter_sort_and_page(site: Site) -> None:
    alice = await site.signed_in("alice")
    page = (await alice.get("/api/v1/users/alice/trades?limit=4")).json()
    assert (page["total"], page["offset"], page["limit"], len(page["trades"])) == (6, 0, 4, 4)
    times = [t["timestamp"] for t in page["trades"]]
    assert times == sorted(times, reverse=True)  # newest first by default
    rest = (await alice.get("/api/v1/users/alice/trades?limit=4&offset=4")).json()
    assert len(rest["trades"]) == 2
    ids = {t["id"] for t in page["trades"] + rest["trades"]}
    assert len(ids) == 6
    jup = (await alice.get("/api/v1/users/alice/trades?token=jup")).json()
    assert jup["total"] == 3
    assert {t["token"] for t in jup["trades"]} == {"JUP"}
    losses = (await alice.get("/api/v1/users/alice/trades?result=loss")).json()
    assert [t["pnl"] for t in losses["trades"]] == ["-2.25", "-2.25"]
    by_pnl = (await alice.get("/api/v1/users/alice/trades?sort=pnl&order=asc")).json()
    pnls = [Decimal(t["pnl"]) for t in by_pnl["trades"]]
    assert pnls == sorted(pnls)
    since = "2027-01-15T05:00:00Z"  # START - 3h is 2027-01-15T05:00 UTC
    recent = (await alice.get(f"/api/v1/users/alice/trades?since={since}")).json()
    assert recent["total"] == 3
    trade = page["trades"][0]
    assert trade["quantity_atoms"] == "1000000"  # on-chain integers as strings (JavaScript)
    assert trade["price"] == "0.5"  # exact decimals travel as strings


async def test_trades_export_as_csv_with_the_same_filters(site: Site) -> None:
    alice = await site.signed_in("alice")
    answer = await alice.get("/api/v1/users/alice/trades.csv?token=BONK&sort=timestamp&order=asc")
    assert answer.headers["content-type"].startswith("text/csv")
    assert "solbot-alice-trades.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 3
    assert {r["token"] for r in rows} == {"BONK"}
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert rows[0]["pnl"] == "-2.25"


async def test_an_export_past_memory_is_every_trade_as_the_list_gives_it(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `CSV_IN_MEMORY` the export is written to a temporary file and sent in chunks:
    byte for byte what the listing says, in its order, and the file gone after."""
    from solbot.web import queries

    monkeypatch.setattr(queries, "CSV_IN_MEMORY", 64)
    monkeypatch.setattr(queries, "CSV_CHUNK", 100)
    alice = await site.signed_in("alice")
    listed = (await alice.get("/api/v1/users/alice/trades?sort=pnl&limit=500")).json()["trades"]
    answer = await alice.get("/api/v1/users/alice/trades.csv?sort=pnl")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(answer.content) > 64 * 4
    assert [r["id"] for r in rows] == [t["id"] for t in listed]
    for row, trade in zip(rows, listed, strict=True):
        assert row == {k: "" if v is None else str(v) for k, v in trade.items()}


async def test_many_exports_at_once_all_finish(site: Site) -> None:
    """More at once than the pool has connections (SQLite's session holds one while it reads:
    one that let the loop through there would leave the next waiting for it on the loop's
    own thread, which froze every page for 30 s)."""
    alice = await site.signed_in("alice")
    answers = await asyncio.wait_for(
        asyncio.gather(*(alice.get("/api/v1/users/alice/trades.csv") for _ in range(20))), 60
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1


async def test_balances_are_the_last_marks_cash_and_the_positions_tokens(site: Site) -> None:
    bob = await site.signed_in("bob")
    before = (await bob.get("/api/v1/users/bob/balances")).json()
    assert (before["cash"], before["as_of"]) == (None, None)  # no loop has marked him yet
    alice = await site.signed_in("alice")
    marked = (await alice.get("/api/v1/users/alice/balances")).json()
    assert Decimal(marked["cash"]["units"]) == Decimal("1006.25")
    assert marked["tokens"] == [
        {"symbol": "JUP", "mint": marked["tokens"][0]["mint"], "atoms": "12345678",
         "units": "12.345678"}
    ]  # fmt: skip
    async with site.db.session() as s:
        await Users(s, site.clock).set_portfolio_values(
            {site.users["alice"].id: Decimal("1012.25")},
            {site.users["alice"].id: (987_654_321, site.clock.now())},
        )
    after = (await alice.get("/api/v1/users/alice/balances")).json()
    assert after["cash"]["atoms"] == "987654321"
    assert after["cash"]["units"] == "987.654321"  # USDC has 6 decimals
    assert after["cash"]["symbol"] == after["quote"] == "USDC"
    assert after["as_of"] is not None
    assert after["value"] == "1012.25"


async def test_positions_and_equity(site: Site) -> None:
    alice = await site.signed_in("alice")
    (position,) = (await alice.get("/api/v1/users/alice/positions")).json()
    assert position["token"] == "JUP"
    assert position["quantity_atoms"] == "12345678"
    assert position["quantity"] == "12.345678"  # JUP has 6 decimals
    assert position["entry_price"] == "0.486"
    assert position["price_now"] is None  # no loop in this process
    curve = (await alice.get("/api/v1/users/alice/equity")).json()
    assert curve["quote"] == "USDC"
    assert [p["value"] for p in curve["points"]] == ["1000.5", "1012.25"]
    recent = (await alice.get("/api/v1/users/alice/equity?days=0.05")).json()
    assert [p["value"] for p in recent["points"]] == ["1012.25"]


async def test_the_overview_is_its_parts_in_one_answer(site: Site) -> None:
    alice = await site.signed_in("alice")
    whole = (await alice.get("/api/v1/users/alice/overview")).json()
    (state,) = (await alice.get("/api/v1/status")).json()["users"]
    assert whole["user"] == state
    assert whole["positions"] == (await alice.get("/api/v1/users/alice/positions")).json()
    assert whole["balances"] == (await alice.get("/api/v1/users/alice/balances")).json()
    assert whole["equity"] == (await alice.get("/api/v1/users/alice/equity?days=30")).json()
    recent = (await alice.get("/api/v1/users/alice/overview?days=0.05")).json()
    assert [p["value"] for p in recent["equity"]["points"]] == ["1012.25"]
    operator = site.bearer()
    assert (await operator.get("/api/v1/users/bob/overview")).json()["user"]["username"] == "bob"
    assert (await alice.get("/api/v1/users/bob/overview")).status_code == 403


async def test_status_shows_the_world_the_switch_and_a_tripped_breaker(site: Site) -> None:
    alice = site.users["alice"]
    gate_state = await _tripped(site, alice)
    async with site.db.session() as s:
        s.add(MetaEntry(key=gate_key(alice.id), value=json.dumps(gate_state)))  # as the loop saves
    operator = site.bearer()
    await operator.put("/api/v1/group/entries", json={"stopped": True})
    status = (await operator.get("/api/v1/status")).json()
    assert (status["world"], status["network"], status["mode"]) == ("sim", "sim", "sim")
    assert status["entries_stopped"] is True
    assert status["loop"] is None
    users = {u["username"]: u for u in status["users"]}
    assert users["alice"]["breaker"]["reason"] == "daily_loss"  # the first of those holding
    assert "daily loss limit" in users["alice"]["breaker"]["text"]
    assert users["bob"]["breaker"] is None
    assert users["alice"]["open_positions"] == 1
    site.clock.advance(7 * 86_400)  # the trading clock passes the pause: the breaker lifts
    status = (await operator.get("/api/v1/status")).json()
    assert {u["username"]: u["breaker"] for u in status["users"]}["alice"] is None


async def _tripped(site: Site, user: UserRow) -> list[float]:
    from solbot.risk import RiskGate
    from solbot.services.roster import limits_of

    gate = RiskGate(limits_of(user), 1000.0, site.clock.now())
    assert gate.mark(500.0, site.clock.now())  # half gone: the day's loss limit trips
    return gate.state()


async def test_no_answer_ever_carries_key_material(site: Site) -> None:
    """Every GET as the operator and as a friend: neither a wallet's secret key (base58, as
    /export shows it), nor its sealed form, nor any of our own secrets comes back."""
    async with site.db.session() as s:
        sealed = [u.encrypted_private_key for u in await s.scalars(select(UserRow))]
    forbidden = [*list(site.secret_keys.values()), site.operator_token]
    for blob in sealed:
        forbidden += [
            blob.hex(),
            base64.b64encode(blob).decode(),
            base64.urlsafe_b64encode(blob).decode(),
        ]
    operator, alice = site.bearer(), await site.signed_in("alice")
    forbidden.append(alice.cookies["solbot_session"])
    described = (await operator.get("/api/v1/openapi.json")).json()
    seen = 0
    for path, item in described["paths"].items():
        if "get" not in item or path == "/api/v1/events":  # a stream of counters: test_live
            continue
        for client, name in ((operator, "bob"), (alice, "alice")):
            url = path.replace("{username}", name)
            body = (await client.get(url)).text
            seen += 1
            for secret in forbidden:
                assert secret not in body, url
            assert "encrypted" not in body
            assert "totp" not in body
            assert "seed" not in body
    assert seen >= 12


async def test_a_tokens_candles_with_the_users_fills(site: Site) -> None:
    """The candles the loop built in this world, and alice's JUP fills on them."""
    seed_candles(site)
    alice = await site.signed_in("alice")
    chart = (await alice.get("/api/v1/users/alice/chart/jup?days=1")).json()
    assert (chart["token"], chart["timeframe"], chart["quote"]) == ("JUP", "1h", "USDC")
    assert len(chart["candles"]) == 24  # the last day of the 48 hours stored
    assert set(chart["candles"][0]) == {"t", "o", "h", "l", "c"}
    assert [f["side"] for f in chart["fills"]] == ["sell"] * 3  # her JUP trades of that day
    assert {f["y"] for f in chart["fills"]} == {0.5}
    wider = (await alice.get("/api/v1/users/alice/chart/JUP?days=3")).json()
    assert len(wider["candles"]) == 48
    refused = await alice.get("/api/v1/users/alice/chart/USDC")
    assert refused.status_code == 409
    assert (await alice.get("/api/v1/users/bob/chart/JUP")).status_code == 403
