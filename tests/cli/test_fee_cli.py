"""`solbot set-fee`: a user's performance fee, within bounds, audited; bad input is one line."""

from __future__ import annotations

from decimal import Decimal

from solbot.store.tables import AuditRow

from .support import Run, add_wallet, rows_of, users_of


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
