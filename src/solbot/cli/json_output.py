"""`--json` for the commands that report (`list-users`, `positions`, `trades`, `data list`):
one JSON document on stdout, for scripts and monitoring.

The contract, documented in docs/operator-guide.md: each command prints one object whose keys
do not change between versions (new keys may be added); amounts are strings, never floats,
because a float cannot hold a token amount or a price exactly (and JavaScript's and jq's numbers
lose integers above 2**53, which a BONK balance in atoms exceeds): `<name>` is the exact decimal
amount in units, `<name>_atoms` (or `_lamports`) the integer on chain; times are ISO 8601 UTC;
a value that is not known is null. `emit` refuses a float anywhere, so a mistake fails loudly
instead of printing a rounded amount. Only fields chosen one by one are printed: no row is dumped
whole, so no sealed key or MAC can slip out.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object instead of a table (keys in docs/operator-guide.md; "
        "amounts as exact decimal strings).",
    ),
]


def units(atoms: int | None, decimals: int) -> str | None:
    """An on-chain integer as an exact decimal string in units (123456789, 6 → '123.456789')."""
    return None if atoms is None else exact(Decimal(atoms).scaleb(-decimals))


def atoms(value: int | None) -> str | None:
    """An on-chain integer as a string (exact for any reader)."""
    return None if value is None else str(int(value))


def exact(value: Decimal | None) -> str | None:
    """A Decimal as a plain string, never in exponent notation ('1E+3' → '1000')."""
    return None if value is None else format(value, "f")


def moment(value: datetime | float | None) -> str | None:
    """A time as ISO 8601 UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).isoformat()


def emit(document: dict[str, Any]) -> None:
    """Print `document` as JSON on stdout; a float anywhere in it is a bug (see above)."""
    _refuse_floats(document, "")
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _refuse_floats(value: Any, where: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"--json output {where or 'value'} is a float; amounts must be strings")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_floats(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _refuse_floats(item, f"{where}[{n}]")
