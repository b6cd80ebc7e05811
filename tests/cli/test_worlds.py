"""Worlds never mix: each network and mode has its own database, and a database of another world
is refused in one line before anything is read or written (issue 11, section 1).

Seen before worlds: sim paper trading and mainnet paper trading shared one book, and
`SOLBOT_NETWORK=mainnet SOLBOT_LIVE=I_UNDERSTAND solbot run` started on the sim's database and the
sim-funded wallets without a word."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from solbot.cli import stores
from solbot.clock import ManualClock
from solbot.sim.network import wallet_keypair
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.states import Custody
from solbot.store.tables import MetaEntry, UserRow
from solbot.store.users import Users
from solbot.store.world_mark import WORLD_KEY
from solbot.wallet.master import MasterKey

from .support import NOW, Run, files_under

KEY = MasterKey.generate()


@pytest.fixture
def cli(run: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    monkeypatch.setenv("SOLBOT_RPC_URL", "http://127.0.0.1:9")  # never the public mainnet RPC
    monkeypatch.setattr(stores, "clock", lambda: ManualClock(NOW))
    return run


def in_world(monkeypatch: pytest.MonkeyPatch, network: str, *, paper: bool = False) -> None:
    monkeypatch.setenv("SOLBOT_NETWORK", network)
    monkeypatch.setenv("SOLBOT_PAPER", "true" if paper else "false")


async def _query(url: str, statement: object) -> list:
    db = Database(url)
    try:
        async with db.session() as s:
            return list((await s.execute(statement)).all())
    finally:
        await db.dispose()


def query(url: str, statement: object) -> list:
    return asyncio.run(_query(url, statement))


def world_of(url: str) -> str | None:
    found = query(url, select(MetaEntry.value).where(MetaEntry.key == WORLD_KEY))
    return found[0][0] if found else None


def usernames(url: str) -> list[str]:
    return sorted(row[0] for row in query(url, select(UserRow.username)))


async def _legacy(url: str, *, sim_deposit: bool = False, operator: str | None = None) -> None:
    """A database as an older solbot left it: at the schema, with no world recorded."""
    await schema.prepare(url)
    db = Database(url)
    try:
        async with db.session() as s:
            await s.execute(delete(MetaEntry).where(MetaEntry.key == WORLD_KEY))
            if sim_deposit:
                await s.execute(insert(MetaEntry).values(key="sim_deposit:x", value="1"))
            if operator is not None:
                await Users(s, ManualClock(NOW)).ensure_external("operator", "operator", operator)
    finally:
        await db.dispose()


def legacy(url: str, **marks: object) -> None:
    asyncio.run(_legacy(url, **marks))


# ---------------------------------------------------------------------------------- defaults
def test_each_world_has_its_own_database(
    cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("add-user", "--username", "alice", "--no-show-key").code == 0
    in_world(monkeypatch, "mainnet")
    done = cli("list-users")
    assert done.code == 0, done.err
    assert "no users yet" in done.out  # the sim's alice is not mainnet's
    in_world(monkeypatch, "sim", paper=True)
    assert cli("positions").code == 0
    in_world(monkeypatch, "mainnet", paper=True)
    assert cli("positions").code == 0
    worlds = {p.parent.name for p in data_dir.glob("*/solbot.db")}
    assert worlds == {"sim", "mainnet", "sim-paper", "mainnet-paper"}
    for name in worlds:
        assert world_of(f"sqlite:///{data_dir / name / 'solbot.db'}") == name
    assert not (data_dir / "solbot.db").exists()


# ---------------------------------------------------------------------------------- a shared URL
@pytest.mark.parametrize(
    ("network", "paper", "holds"),
    [("mainnet", False, "sim"), ("devnet", False, "sim"), ("sim", True, "sim")],
)
def test_a_database_of_another_world_is_refused_and_left_alone(
    cli: Run,
    empty_url: str,
    monkeypatch: pytest.MonkeyPatch,
    network: str,
    paper: bool,
    holds: str,
) -> None:
    """A DATABASE_URL that a sim run created is not mainnet's: the command stops in one line
    that names the world the database holds and how to point elsewhere."""
    monkeypatch.setenv("DATABASE_URL", empty_url)
    monkeypatch.setenv("SOLBOT_PAPER_DATABASE_URL", empty_url)
    assert cli("add-user", "--username", "alice", "--no-show-key").code == 0
    assert world_of(empty_url) == "sim"
    before = query(empty_url, select(UserRow.id, UserRow.username, UserRow.updated_at))
    in_world(monkeypatch, network, paper=paper)
    for command in (
        ["list-users"],
        ["positions"],
        ["add-user", "--username", "bob"],
        ["web", "token", "create", "laptop"],  # the dashboard's sign-in: the same world rule
        ["web", "token", "list"],
        ["web", "sessions", "list"],
        ["webhook", "add", "ops", "https://hooks.example.org/h/1"],  # nothing sealed there
        ["webhook", "list"],
        ["webhook", "failed"],
    ):
        line = cli(*command).error_line()
        assert f"holds the {holds} world, not {network}{'-paper' if paper else ''}" in line
        assert "DATABASE_URL" in line
    assert query(empty_url, select(UserRow.id, UserRow.username, UserRow.updated_at)) == before


def test_db_upgrade_records_the_world_and_refuses_another(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    in_world(monkeypatch, "mainnet")
    assert cli("db", "upgrade").code == 0
    assert world_of(empty_url) == "mainnet"
    in_world(monkeypatch, "sim")
    assert "holds the mainnet world, not sim" in cli("db", "upgrade").error_line()
    assert "holds the mainnet world, not sim" in cli("list-users").error_line()


# ---------------------------------------------------------------------------------- before worlds
def test_an_old_database_with_the_sims_marks_is_the_sims(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    legacy(empty_url, sim_deposit=True)
    in_world(monkeypatch, "mainnet")
    assert "holds the sim world, not mainnet" in cli("positions").error_line()
    assert world_of(empty_url) is None  # refused: nothing written
    in_world(monkeypatch, "sim")
    assert cli("positions").code == 0
    assert world_of(empty_url) == "sim"


def test_the_sims_funded_wallet_is_never_reused_on_a_real_network(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old database whose operator traded the sim's funded test wallet is the sim's."""
    monkeypatch.setenv("DATABASE_URL", empty_url)
    legacy(empty_url, operator=str(wallet_keypair(7).pubkey()))
    in_world(monkeypatch, "mainnet")
    assert "holds the sim world, not mainnet" in cli("positions").error_line()
    assert world_of(empty_url) is None


def test_an_old_database_with_no_evidence_waits_for_the_operators_word(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    legacy(empty_url, operator="7nYB1gWcP3wqu8kcmh8iWKzQ6Q1ZWbzrrHVdd4bAFBUy")
    in_world(monkeypatch, "mainnet")
    line = cli("positions").error_line()
    assert "from before worlds" in line
    assert "solbot db adopt" in line
    assert world_of(empty_url) is None
    done = cli("db", "adopt")
    assert done.code == 0, done.err
    assert world_of(empty_url) == "mainnet"
    assert cli("positions").code == 0
    assert "already belongs to the mainnet world" in cli("db", "adopt").error_line()


def test_adopting_is_refused_against_the_evidence(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    legacy(empty_url, sim_deposit=True)
    in_world(monkeypatch, "mainnet")
    assert "holds the sim world" in cli("db", "adopt").error_line()
    assert world_of(empty_url) is None


def test_an_old_blank_database_is_the_commands(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    legacy(empty_url)
    in_world(monkeypatch, "mainnet")
    assert cli("positions").code == 0
    assert world_of(empty_url) == "mainnet"


# ---------------------------------------------------------------------------------- the data dir
def old_sim_world(data_dir: Path) -> None:
    """A data dir as the quick start left it before worlds: the database, the sim's state, its
    log and candles at the top level; and a year of downloaded history before the sim began."""
    from solbot.clock import ManualClock as Clock
    from solbot.config import Settings
    from solbot.domain import Timeframe
    from solbot.market.store import CandleStore
    from solbot.market.synth import synth_candles
    from solbot.sim.network import SimNetwork

    settings = Settings(data_dir=data_dir)
    tokens = list(settings.token_map().values())
    network = SimNetwork.create(
        tokens=tokens,
        clock=Clock(float(NOW)),
        seed=7,
        history_seconds=50 * 3600,
        wallet_sol=1.0,
        wallet_usdc=100.0,
    )
    network.save(data_dir / "sim-state.json")
    store = CandleStore(data_dir / "candles")
    network.write_history(store, ["JUP"], Timeframe.H1, 40)  # what the sim wrote
    year = synth_candles(
        Timeframe.H1, 2000, seed=1, start_price=1.0, start_time=(NOW - 400 * 86400) // 3600 * 3600
    )
    store.save("WIF", year)  # downloaded history, ending long before the sim began
    legacy(f"sqlite:///{data_dir / 'solbot.db'}", sim_deposit=True)
    (data_dir / "solbot.log").write_text('{"message": "old"}\n')


def test_an_old_sim_data_dir_moves_into_the_sim_world(cli: Run, data_dir: Path) -> None:
    old_sim_world(data_dir)
    done = cli("data", "list")
    assert done.code == 0, done.err
    assert "moved the embedded sim's world into" in done.err
    assert len(done.err.strip().splitlines()) == 1
    sim = data_dir / "sim"
    for name in ("sim-state.json", "solbot.db", "solbot.log", "candles/JUP/1h.parquet"):
        assert (sim / name).exists(), name
    for name in ("sim-state.json", "solbot.db", "solbot.log", "candles/JUP/1h.parquet"):
        assert not (data_dir / name).exists(), name
    assert (data_dir / "candles" / "WIF" / "1h.parquet").exists()  # market history stays
    assert "WIF" in done.out
    assert "JUP" not in done.out
    assert "JUP" in cli("data", "list", "--world", "sim").out
    assert cli("positions").code == 0  # the moved database is the sim's
    assert world_of(f"sqlite:///{sim / 'solbot.db'}") == "sim"
    again = cli("data", "list")
    assert again.err == ""  # moved once


def test_an_old_database_without_the_sims_state_must_be_sorted_by_hand(
    cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy(f"sqlite:///{data_dir / 'solbot.db'}")
    legacy(f"sqlite:///{data_dir / 'paper' / 'solbot.db'}")
    before = files_under(data_dir)
    line = cli("positions").error_line()
    assert "solbot.db is from before worlds and its network is unknown" in line
    assert str(data_dir / "sim" / "solbot.db") in line
    in_world(monkeypatch, "mainnet", paper=True)
    line = cli("positions").error_line()
    assert "holds paper books from before worlds" in line
    assert str(data_dir / "mainnet-paper" / "solbot.db") in line
    assert files_under(data_dir) == before
    (data_dir / "mainnet-paper").mkdir()
    (data_dir / "paper" / "solbot.db").rename(data_dir / "mainnet-paper" / "solbot.db")
    assert cli("positions").code == 0
    assert world_of(f"sqlite:///{data_dir / 'mainnet-paper' / 'solbot.db'}") == "mainnet-paper"


def test_an_unknown_world_name_is_one_line(cli: Run) -> None:
    assert "unknown world 'moon'" in cli("data", "list", "--world", "moon").error_line()


def test_vault_users_of_one_world_are_not_anothers(
    cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same username in two worlds is two different wallets."""
    assert cli("add-user", "--username", "alice", "--no-show-key").code == 0
    in_world(monkeypatch, "devnet")
    assert cli("add-user", "--username", "alice", "--no-show-key").code == 0
    sim = query(f"sqlite:///{data_dir / 'sim' / 'solbot.db'}", select(UserRow.wallet_pubkey))
    devnet = query(
        f"sqlite:///{data_dir / 'devnet' / 'solbot.db'}",
        select(UserRow.wallet_pubkey).where(UserRow.custody == Custody.VAULT.value),
    )
    assert sim != devnet


def test_a_backup_restores_only_into_its_own_world(
    cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("add-user", "--username", "alice", "--no-show-key").code == 0
    file = data_dir.parent / "sim.json.gz"
    assert cli("backup", "create", str(file)).code == 0
    in_world(monkeypatch, "mainnet")
    line = cli("backup", "restore", str(file)).error_line()
    assert "is a backup of the sim world, not mainnet" in line
    assert not (data_dir / "mainnet" / "solbot.db").exists()
    in_world(monkeypatch, "sim")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{data_dir / 'copy' / 'solbot.db'}")
    done = cli("backup", "restore", str(file))
    assert done.code == 0, done.err
    assert world_of(f"sqlite:///{data_dir / 'copy' / 'solbot.db'}") == "sim"
