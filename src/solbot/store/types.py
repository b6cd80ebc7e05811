"""Column types that keep money exact on SQLite and PostgreSQL alike.

SQLite has no exact decimal type and its INTEGER is signed 64-bit, so a u64 token amount or a
price with 18 decimals would be silently rounded (REAL) or overflow (INTEGER). On SQLite these
types therefore store canonical TEXT; on PostgreSQL they use NUMERIC of a fixed precision. The
Python side is the same on both: `int` atoms, `Decimal` prices, aware UTC datetimes.

Consequences worth knowing when writing SQL by hand on SQLite:
- `Atoms` text is zero-padded to 20 digits, so `=`, `<`, `ORDER BY`, `MIN` and `MAX` compare
  correctly as text. Sums must be done in Python (SQLite would add the texts as REAL).
- `Price` text is the plain decimal (no padding, may be negative), so only equality is meaningful
  in SQL; compare and aggregate prices in Python.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import DateTime, Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

U64_MAX = 2**64 - 1
"""The largest amount an SPL token account or a lamport balance can hold."""

_ATOMS_WIDTH = len(str(U64_MAX))  # 20 digits: fits NUMERIC(20, 0) exactly

PRICE_SCALE = 18
"""Decimal places a `Price` keeps; more are rounded half-even (as a price has no use for them)."""

PRICE_PRECISION = 38
"""Total digits a `Price` may have: 20 before the point and 18 after, i.e. NUMERIC(38, 18)."""

_PRICE_LIMIT = Decimal(10) ** (PRICE_PRECISION - PRICE_SCALE)
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
# The default decimal context keeps only 28 digits, which would round a large price with 18
# decimals; every operation here uses a context wide enough to be exact.
_CTX = Context(prec=PRICE_PRECISION + 10, rounding=ROUND_HALF_EVEN)


def _is_postgres(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def check_atoms(value: object) -> int:
    """Validate an amount of atoms: an integer in [0, u64 max]. Floats are refused outright."""
    if type(value) is int and 0 <= value <= U64_MAX:  # the common case, checked first (hot)
        return value
    if isinstance(value, bool | float | Decimal):
        raise TypeError(f"atoms must be an int, got {type(value).__name__} {value!r}")
    try:
        number = operator.index(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"atoms must be an int, got {type(value).__name__} {value!r}") from None
    if not 0 <= number <= U64_MAX:
        raise ValueError(f"atoms must be in [0, {U64_MAX}], got {number}")
    return number


def canonical_price(value: object) -> Decimal:
    """The one representation of a price that both databases give back.

    Rounded half-even to 18 places, trailing zeros dropped, no positive exponent, no negative
    zero: `Decimal('1.50')` becomes `Decimal('1.5')`, `Decimal('1E+2')` becomes `Decimal('100')`.
    Equal prices thus have identical digits and exponent, whichever database they came from.
    Accepts `Decimal` and `int`; refuses floats (TypeError) because a float has already lost the
    exact value, and refuses NaN, infinities and magnitudes of 10**20 or more (ValueError), which
    PostgreSQL's NUMERIC(38, 18) could not hold either.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(
            f"prices must be Decimal (or int), got {type(value).__name__} {value!r}; "
            "build it with Decimal('...') from a string, never from a float"
        )
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"prices must be finite, got {number}")
    try:
        rounded = number.quantize(_QUANTUM, context=_CTX)
    except InvalidOperation:
        raise ValueError(f"price {number} is out of range (|price| < 1e20)") from None
    if rounded.copy_abs() >= _PRICE_LIMIT:  # copy_abs: abs() would round to 28 digits
        raise ValueError(f"price {number} is out of range (|price| < 1e20)")
    if rounded.is_zero():
        return Decimal(0)
    normal = rounded.normalize(_CTX)
    if normal.as_tuple().exponent > 0:  # type: ignore[operator]
        normal = normal.quantize(Decimal(1), context=_CTX)
    return normal


def price_text(value: Decimal) -> str:
    """The SQLite storage form of a price: its canonical value in plain notation."""
    return format(canonical_price(value), "f")


class Atoms(TypeDecorator[int]):
    """A non-negative integer amount of token atoms or lamports, up to u64 max, exact.

    SQLite: TEXT, zero-padded to 20 digits (so text order is numeric order).
    PostgreSQL: NUMERIC(20, 0).
    """

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type[int]:
        return int

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_postgres(dialect):
            return dialect.type_descriptor(Numeric(_ATOMS_WIDTH, 0))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = check_atoms(value)
        if _is_postgres(dialect):
            return Decimal(number)
        return str(number).zfill(_ATOMS_WIDTH)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"stored atoms {value} are not whole")
            return int(value)
        return int(value)


class Price(TypeDecorator[Decimal]):
    """An exact decimal (price, PnL, percentage): up to 20 integer digits and 18 decimals.

    SQLite: TEXT in plain notation. PostgreSQL: NUMERIC(38, 18). Both give back the canonical
    `Decimal` (see `canonical_price`), so a value reads the same from either database.
    """

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_postgres(dialect):
            return dialect.type_descriptor(Numeric(PRICE_PRECISION, PRICE_SCALE))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if _is_postgres(dialect):
            return canonical_price(value)
        return price_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, str):
            return canonical_price(Decimal(value))
        return canonical_price(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time: an aware datetime in, an aware UTC datetime out, on every database.

    Naive datetimes are refused, since their zone would be a guess. SQLite stores the UTC wall
    time as ISO text with microseconds (so text order is time order); PostgreSQL uses
    TIMESTAMP WITH TIME ZONE, whose drivers may answer in the session's zone, hence the
    conversion back to UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give an aware (UTC) datetime")
        utc = value.astimezone(UTC)
        if _is_postgres(dialect):
            return utc
        return utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_from_timestamp(seconds: float) -> datetime:
    """An aware UTC datetime from Unix seconds (what a `Clock` says)."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def render_frozen_type(kind: str, obj: object, _context: object) -> str | Literal[False]:
    """Alembic `render_item` hook: write our types into new migrations as plain SQLAlchemy.

    A migration must keep creating the same schema whatever later code does to these classes,
    so autogenerate spells out what each stands for on each database instead of importing it.
    """
    if kind != "type":
        return False
    if isinstance(obj, Atoms):
        return f'sa.Text().with_variant(sa.Numeric({_ATOMS_WIDTH}, 0), "postgresql")'
    if isinstance(obj, Price):
        return f'sa.Text().with_variant(sa.Numeric({PRICE_PRECISION}, {PRICE_SCALE}), "postgresql")'
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False
