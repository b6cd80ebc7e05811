"""The closing summary of `solbot run` counts what is quarantined and names each hold, and
shows open positions in units."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from solbot.cli.run_view import print_summary
from solbot.quarantine import ANY, Hold
from solbot.runtime import Held, Summary


def test_the_summary_counts_quarantines_and_moved_out_positions() -> None:
    holds = [
        Hold("id-bob", ANY, ANY, 8, "not signed: the key does not open", 0.0, 60.0, 50.0),
        Hold("id-carol", "BONK", "sell", 8, "quote expired", 0.0, 60.0, 55.0),
    ]
    summary = Summary(
        0.0,
        7200.0,
        720,
        3,
        2,
        16,
        {},
        Decimal("1.5"),
        "USDC",
        quarantined=holds,
        moved_out=1,
        names={"id-bob": "bob", "id-carol": "carol"},
    )
    console = Console(record=True, width=120)
    print_summary(console, summary)
    text = console.export_text()
    cells = {
        parts[1].strip(): parts[2].strip()
        for line in text.splitlines()
        if len(parts := line.split("│")) == 4
    }
    assert cells["quarantined"] == "2"
    assert cells["moved out of the wallet"] == "1"
    assert "bob all trading" in text
    assert "not signed: the key does not open" in text
    assert "carol BONK exits" in text


def test_open_positions_are_shown_in_units_and_reasons_whole() -> None:
    summary = Summary(
        0.0,
        3600.0,
        360,
        1,
        0,
        1,
        {},
        Decimal(0),
        "USDC",
        open_positions=[Held("alice", "BONK", 123_456_789_012_345, 123_456_789_012_345, 5)],
        quarantined=[Hold("id-bob", "JUP", "sell", 8, "[RFQ] quote expired", 0.0, 60.0, 50.0)],
        names={"id-bob": "bob"},
    )
    console = Console(record=True, width=160)
    print_summary(console, summary)
    text = console.export_text()
    assert "1,234,567,890.12345 BONK (chain 1,234,567,890.12345) ✓" in text
    assert "atoms" not in text
    assert "[RFQ] quote expired" in text


def test_what_the_wallets_paid_beyond_the_swaps_is_shown_and_netted_in_sol() -> None:
    def cells_of(summary: Summary) -> dict[str, str]:
        console = Console(record=True, width=120)
        print_summary(console, summary)
        return {
            parts[1].strip(): parts[2].strip()
            for line in console.export_text().splitlines()
            if len(parts := line.split("│")) == 4
        }

    sol = Summary(0.0, 3600.0, 360, 2, 2, 0, {}, Decimal("0.25"), "SOL", costs_lamports=25_000)
    cells = cells_of(sol)
    assert cells["paid in fees and rent"] == "0.000025 SOL"
    assert cells["realised PnL after them"] == "+0.2500 SOL"  # 0.249975, to 4 places
    usdc = Summary(0.0, 3600.0, 360, 2, 2, 0, {}, Decimal("3"), "USDC", costs_lamports=20_000)
    cells = cells_of(usdc)
    assert cells["paid in fees and rent"] == "0.00002 SOL"
    assert "realised PnL after them" not in cells  # not in the same asset: not netted
    gasless = Summary(0.0, 3600.0, 360, 2, 2, 0, {}, Decimal("3"), "USDC")
    assert "paid in fees and rent" not in cells_of(gasless)
    # The maker paid the rent of the accounts, and closing them gave it to the wallet.
    given = Summary(
        0.0, 3600.0, 360, 2, 2, 0, {}, Decimal("0.25"), "SOL", costs_lamports=-2_034_280
    )
    cells = cells_of(given)
    assert cells["rent given back, net of fees"] == "0.00203428 SOL"
    assert cells["realised PnL after them"] == "+0.2520 SOL"
    assert "paid in fees and rent" not in cells
