"""Money round-trips exactly through the database; floats and naive times never get in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from solbot.store.db import Database
from solbot.store.types import (
    U64_MAX,
    Atoms,
    Price,
    UtcDateTime,
    canonical_price,
    check_atoms,
    utc_from_timestamp,
)

probe_md = MetaData()
probe = Table(
    "money_probe",
    probe_md,
    Column("id", Integer, primary_key=True),
    Column("atoms", Atoms()),
    Column("price", Price()),
    Column("at", UtcDateTime()),
)

ATOMS = [0, 1, 2**63 - 1, 2**63, U64_MAX]
PRICES = [
    Decimal("0.000000000000000001"),
    Decimal("123456789012345678.123456789012345678"),
    Decimal("-98765.432109876543210987"),  # a negative PnL with 18 decimals
    Decimal("-0.000000000000000001"),
    Decimal("99999999999999999999.999999999999999999"),
    Decimal("-99999999999999999999.999999999999999999"),
    Decimal("0"),
    Decimal("1.5"),
    Decimal("42"),
]


async def _roundtrip(db: Database, **values: object) -> dict[str, object]:
    async with db.engine.begin() as conn:
        await conn.run_sync(probe_md.create_all)
        await conn.execute(insert(probe).values(id=1, **values))
        row = (await conn.execute(select(probe).where(probe.c.id == 1))).mappings().one()
        await conn.run_sync(probe_md.drop_all)
    return dict(row)


@pytest.mark.parametrize("value", ATOMS)
async def test_atoms_round_trip_exactly(db: Database, value: int) -> None:
    row = await _roundtrip(db, atoms=value)
    assert row["atoms"] == value
    assert type(row["atoms"]) is int


@pytest.mark.parametrize("value", PRICES)
async def test_prices_round_trip_exactly(db: Database, value: Decimal) -> None:
    row = await _roundtrip(db, price=value)
    assert row["price"] == value
    assert isinstance(row["price"], Decimal)
    assert row["price"].as_tuple() == canonical_price(value).as_tuple()


async def test_prices_read_back_in_one_canonical_form(db: Database) -> None:
    for given, canonical in [
        (Decimal("1.50"), "1.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0"), "0"),
        (Decimal("0.0000000000000000015"), "0.000000000000000002"),  # half-even to 18 places
        (Decimal("0.0000000000000000025"), "0.000000000000000002"),
        (7, "7"),
    ]:
        row = await _roundtrip(db, price=given)
        assert format(row["price"], "f") == canonical
        assert row["price"].as_tuple() == Decimal(canonical).as_tuple()


async def test_null_money_stays_null(db: Database) -> None:
    row = await _roundtrip(db, atoms=None, price=None, at=None)
    assert row["atoms"] is None
    assert row["price"] is None
    assert row["at"] is None


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    moment = datetime(2026, 5, 10, 12, 34, 56, 789012, tzinfo=UTC)
    row = await _roundtrip(db, at=moment)
    assert row["at"] == moment
    assert row["at"].tzinfo is UTC

    india = timezone(timedelta(hours=5, minutes=30))
    row = await _roundtrip(db, at=moment.astimezone(india))
    assert row["at"] == moment
    assert row["at"].utcoffset() == timedelta(0)


@pytest.mark.parametrize(("column", "value"), [("atoms", 1.0), ("price", 1.5), ("price", 0.1)])
async def test_floats_are_refused_by_the_database_layer(
    db: Database, column: str, value: float
) -> None:
    with pytest.raises(StatementError) as caught:
        await _roundtrip(db, **{column: value})
    assert isinstance(caught.value.orig, TypeError)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError) as caught:
        await _roundtrip(db, at=datetime(2026, 5, 10, 12, 0))
    assert isinstance(caught.value.orig, ValueError)


@pytest.mark.parametrize("bad", [1.0, True, Decimal("5"), "5", None])
def test_check_atoms_refuses_non_integers(bad: object) -> None:
    with pytest.raises(TypeError):
        check_atoms(bad)


@pytest.mark.parametrize("bad", [-1, U64_MAX + 1])
def test_check_atoms_refuses_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="atoms must be in"):
        check_atoms(bad)


@pytest.mark.parametrize("bad", [0.1, 1e-18, True, "1.5", None])
def test_canonical_price_refuses_floats_and_others(bad: object) -> None:
    with pytest.raises(TypeError):
        canonical_price(bad)


@pytest.mark.parametrize(
    "bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+20"), Decimal("-1E+30")]
)
def test_canonical_price_refuses_what_numeric_38_18_cannot_hold(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="price"):
        canonical_price(bad)


def test_bind_forms_per_dialect() -> None:
    lite, pg = sqlite.dialect(), postgresql.dialect()
    assert Atoms().process_bind_param(5, lite) == "00000000000000000005"
    assert Atoms().process_bind_param(U64_MAX, lite) == str(U64_MAX)
    assert Atoms().process_bind_param(U64_MAX, pg) == Decimal(U64_MAX)
    assert Price().process_bind_param(Decimal("-1.250"), lite) == "-1.25"
    assert Price().process_bind_param(Decimal("1E-18"), lite) == "0.000000000000000001"
    assert Price().process_bind_param(Decimal("1.250"), pg) == Decimal("1.25")
    with pytest.raises(TypeError):
        Price().process_bind_param(1.25, pg)
    assert Atoms().process_result_value(Decimal("18446744073709551615"), pg) == U64_MAX
    with pytest.raises(ValueError, match="not whole"):
        Atoms().process_result_value(Decimal("1.5"), pg)


async def test_sqlite_stores_atoms_as_padded_text_so_sql_order_is_numeric(tmp_path) -> None:
    db = Database(tmp_path / "probe.db")
    amounts = [U64_MAX, 2**63, 10, 9, 0, 2**63 - 1]
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(probe_md.create_all)
            for i, amount in enumerate(amounts):
                await conn.execute(insert(probe).values(id=i, atoms=amount))
            ordered = (await conn.execute(select(probe.c.atoms).order_by(probe.c.atoms))).all()
            above = (await conn.execute(select(probe.c.atoms).where(probe.c.atoms > 9))).all()
            stored = (
                await conn.execute(text("SELECT typeof(atoms), atoms FROM money_probe"))
            ).all()
    finally:
        await db.dispose()
    assert [r[0] for r in ordered] == sorted(amounts)
    assert sorted(r[0] for r in above) == [10, 2**63 - 1, 2**63, U64_MAX]
    assert {r[0] for r in stored} == {"text"}
    assert ("text", "00000000000000000009") in stored


def test_utc_from_timestamp() -> None:
    assert utc_from_timestamp(0.5) == datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
