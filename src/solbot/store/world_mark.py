"""The world a database belongs to, recorded in `meta` at creation and checked by every command.

A database made by this version records its world (`meta.world`, e.g. `sim`, `mainnet-paper`) in
the transaction that creates its schema. A command of another world pointed at it stops with one
line naming the world it holds and how to point elsewhere, before it reads or writes anything.

A database from before worlds has no mark. It is adopted as the world it evidently is:
- nothing in it yet (no users, orders, positions, trades, withdrawals or paper balances): the
  command's world, since there is nothing to mix;
- the embedded sim's marks (a SQLite file next to a sim state file, the sim's faucet deposits in
  `meta`, or the sim's funded wallet among its users): `sim`;
- paper balances: the command's paper world (paper books hold no keys and no money; which
  network's prices they followed cannot be told, and mixing them costs nothing real).
Anything else is refused until the operator says which world it is (`solbot db adopt`): a
database that traded on an unknown network must never be guessed into a real one.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, exists, insert, select

from solbot.errors import UserError
from solbot.store.tables import (
    MetaEntry,
    OrderRow,
    PaperBalanceRow,
    PositionRow,
    TradeRow,
    UserRow,
    WithdrawalRow,
)
from solbot.worlds import SIM, Hints, World

WORLD_KEY = "world"
SIM_DEPOSIT_PREFIX = "sim_deposit:"  # `meta` key prefix of the embedded sim's faucet deposits
_META: Table = MetaEntry.__table__  # type: ignore[assignment]
_HOLDING: tuple[type, ...] = (UserRow, OrderRow, PositionRow, TradeRow, WithdrawalRow)


def recorded(conn: Connection) -> World | None:
    """The world the database says it belongs to, if it says."""
    value = conn.scalar(select(_META.c.value).where(_META.c.key == WORLD_KEY))
    return None if value is None else World.parse(value)


def record(conn: Connection, world: World) -> None:
    """Mark a database that has no world yet (a new one, or one adopted)."""
    conn.execute(insert(_META).values(key=WORLD_KEY, value=world.name))


def claim(conn: Connection, world: World, hints: Hints, *, fresh: bool) -> World:
    """Check (or, for a new or unmarked database, record) that `conn`'s database is `world`'s,
    in the caller's transaction; `UserError` in one line otherwise. Returns the world."""
    if fresh:
        record(conn, world)
        return world
    holds = recorded(conn)
    if holds is None:
        holds = _adopt(conn, world, hints)
        if holds == world:
            record(conn, world)
    if holds != world:
        raise UserError(
            f"the database {hints.shown} holds the {holds} world, not {world}: "
            f"{how_to_reach(world, holds)}"
        )
    return world


def adopt(conn: Connection, world: World, hints: Hints) -> None:
    """The operator's word for an unmarked database (`solbot db adopt`): it is `world`'s.
    Refused when it is marked already, or when what it holds says otherwise."""
    holds = recorded(conn)
    if holds is not None:
        raise UserError(f"the database {hints.shown} already belongs to the {holds} world")
    evident = _evidence(conn, world, hints)
    if evident is not None and evident != world:
        raise UserError(
            f"the database {hints.shown} holds the {evident} world (it has its marks), not "
            f"{world}; nothing was changed"
        )
    record(conn, world)


def how_to_reach(world: World, other: World) -> str:
    """The one-line advice for an operator whose command met `other`'s database."""
    url = "SOLBOT_PAPER_DATABASE_URL" if world.paper else "DATABASE_URL"
    setting = (
        f"SOLBOT_NETWORK={other.network}" + (" with --paper" if other.paper else "")
        if other.network != world.network
        else ("--paper (SOLBOT_PAPER=true)" if other.paper else "no --paper (SOLBOT_PAPER=false)")
    )
    return (
        f"point {url} (or --data-dir) at {world}'s own database, or run with {setting} to act "
        f"in {other}"
    )


def _adopt(conn: Connection, world: World, hints: Hints) -> World:
    evident = _evidence(conn, world, hints)
    if evident is not None:
        return evident
    if _blank(conn):
        return world
    raise UserError(
        f"the database {hints.shown} is from before worlds and shows no sign of the network it "
        f"traded on: if it is {world}'s, say so with `solbot db adopt` (with these settings)"
    )


def _evidence(conn: Connection, world: World, hints: Hints) -> World | None:
    """The world the database's contents prove, if they prove one."""
    deposit = conn.scalar(select(exists().where(_META.c.key.like(f"{SIM_DEPOSIT_PREFIX}%"))))
    funded = hints.sim_wallet is not None and conn.scalar(
        select(exists().where(UserRow.wallet_pubkey == hints.sim_wallet))
    )
    if hints.sim_state_beside or deposit or funded:
        return SIM
    if conn.scalar(select(exists().select_from(PaperBalanceRow))):
        return world if world.paper else World(world.network, paper=True)
    return None


def _blank(conn: Connection) -> bool:
    return not any(conn.scalar(select(exists().select_from(row))) for row in _HOLDING)
