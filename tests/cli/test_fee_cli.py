"""`solbot set-fee`: a user's performance fee, within bounds, audited; bad input is one line.
`solbot fees`: what each user's fee has come to."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert

from solbot.config import Settings
from solbot.store.tables import AuditRow, FeeAccrualRow, FeeSweepRow

from .support import Run, add_wallet, rows_of, run_sql, users_of

USDC = Settings().token("USDC").mint


def test_set_fee_sets_clears_and_refuses_in_one_line(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    done = cli("set-fee", "--username", "alice", "--pct", "12.5")
    assert done.code == 0, done.err
    assert "alice: performance fee 12.5%" in done.out
    (user,) = users_of(empty_url)
    assert user.fee_pct == Decimal("12.5")
    assert "fee" in [a.action for a in rows_of(empty_url, AuditRow, AuditRow.seq)]
    assert "performance fee the default" in cli("set-fee", "-u", "alice", "--default").out
    for args, why in [
        (("--pct", "100"), "below 100"),
        (("--pct", "ten"), "must be a number"),
        ((), "give --pct PCT or --default"),
        (("--pct", "5", "--default"), "give --pct PCT or --default"),
    ]:
        refused = cli("set-fee", "-u", "alice", *args)
        assert refused.code == 2
        assert why in refused.error_line()
    (user,) = users_of(empty_url)
    assert user.fee_pct is None


def test_fees_reports_accrued_paid_and_owed_per_user(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    (alice, bob) = sorted(users_of(empty_url), key=lambda u: u.username)
    now = datetime.now(UTC)
    run_sql(
        empty_url,
        insert(FeeAccrualRow).values(
            user_id=alice.id, day="2026-12-05", pct=Decimal(10), realised=Decimal(125),
            fee=Decimal("12.5"), charged=Decimal("12.5"), high_water=Decimal("112.5"),
            created_at=now,
        ),
        insert(FeeSweepRow).values(
            id=str(uuid.uuid4()), user_id=alice.id, destination=alice.wallet_pubkey,
            mint=USDC, symbol="USDC", decimals=6, atoms=10_000_000, through_day="2026-12-05",
            state="confirmed", requested_by="test", created_at=now, updated_at=now,
        ),
    )  # fmt: skip
    report = cli("fees", "--json")
    assert report.code == 0, report.err
    document = json.loads(report.out)
    assert document["quote"] == "USDC"
    lines = {u["username"]: u for u in document["users"]}
    assert lines["alice"]["accrued"] == "12.5"
    assert (lines["alice"]["paid"], lines["alice"]["owed"]) == ("10.000000", "2.500000")
    assert lines["alice"]["owed_atoms"] == "2500000"
    assert lines["bob"]["accrued_through"] is None
    table = cli("fees")
    assert "alice" in table.out
    assert "2.5" in table.out
    assert "SOLBOT_FEE_WALLET is not set" in table.out
    assert bob.username in table.out
