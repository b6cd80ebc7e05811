"""The error contract, walked through the real CLI: every bad input and every broken environment
an operator can meet ends in exactly one line on stderr and a non-zero exit code (2 for what the
operator can fix), with no traceback, and changes nothing (the files of the data dir and every
row of the database are as they were).

Each row runs on SQLite and on PostgreSQL, except those about one of them (a locked SQLite file,
a PostgreSQL server that is down). A row sets its scene in two steps: `given` before the
fingerprint is taken (a user, a file), `meanwhile` only while the command runs (a lock someone
holds, a folder made read-only, a server that never answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from sqlalchemy.engine import make_url

from holders import holding_run_lock
from solbot import startup
from solbot.cli import data as data_cmd
from solbot.cli.app import main
from solbot.clock import ManualClock
from solbot.config_loading import load_settings
from solbot.store import failures, schema
from solbot.wallet.master import MasterKey

from .contract_support import (
    closed_port,
    fake_mainnet,
    read_only,
    silent_server,
    sqlite_cannot_grow,
    sqlite_write_lock,
    state_of,
)
from .support import Outcome

KEY = MasterKey.generate()
OTHER_KEY = MasterKey.generate()
WALLET = str(Keypair())  # base58 of a throwaway keypair: the operator wallet of remote modes
BACKENDS = ("sqlite", "postgresql")
# Rows that fail while the settings or the command line are read, before any database is
# opened, run once: on PostgreSQL they would only repeat the same code path.
BEFORE_ANY_DATABASE = ("sqlite",)
SQLITE, POSTGRESQL = ("sqlite",), ("postgresql",)  # rows about one of them
SHORT_WAIT = 1.0  # seconds: the database's lock wait and the start-up's first contact, in tests
FAST_TRADER = {  # trades within minutes of simulated time (as the integration tests use)
    "SOLBOT_TIMEFRAME": "1m",
    "SOLBOT_STRATEGY_PARAMS": json.dumps(
        {"fast": 2, "slow": 3, "rsi_period": 2, "rsi_min": 0, "rsi_max": 100, "atr_period": 2}
    ),
    "SOLBOT_RISK_TIER": "aggressive",
}


@dataclass
class World:
    """A data dir with the database of a world (the row's), and the CLI run in this process."""

    folder: Path  # the working directory: where `.env` and `solbot.toml` are read
    data_dir: Path
    url: str
    backend: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def setenv(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def run(self, *args: str) -> Outcome:
        self.capsys.readouterr()
        try:
            main(["--data-dir", str(self.data_dir), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return Outcome(code, out, err)

    @property
    def sqlite_path(self) -> Path:
        return Path(make_url(self.url).database or "")


Scene = Callable[[World], None]
During = Callable[[World], contextlib.AbstractContextManager[object]]


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    says: str  # what the one line must contain
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2
    given: Scene | None = None
    meanwhile: During | None = None
    backends: tuple[str, ...] = BACKENDS
    changes: bool = False  # a run that failed mid-way keeps what it committed before
    network: str = "sim"  # the world of the database the row starts with


# ---------------------------------------------------------------------------------- scenes
def alice(world: World) -> None:
    world.setenv(MASTER_ENCRYPTION_KEY=KEY.hex())
    done = world.run("add-user", "--username", "alice", "--no-show-key")
    assert done.code == 0, done.err


def file(name: str, content: bytes) -> Scene:
    def write(world: World) -> None:
        (world.folder / name).write_bytes(content)

    return write


def closed(*names: str) -> Scene:
    def point(world: World) -> None:
        world.setenv(**{name: f"http://127.0.0.1:{closed_port()}" for name in names})

    return point


@contextlib.contextmanager
def silent(world: World, *names: str) -> Iterator[None]:
    with silent_server() as server:
        world.setenv(**{name: server.url for name in names})
        yield


def hanging(*names: str) -> During:
    return lambda world: silent(world, *names)


@contextlib.contextmanager
def another_bot(world: World) -> Iterator[None]:
    """Another process holds the database's run lock, as a running `solbot run` does."""
    with holding_run_lock(world.url):
        yield


def jupiter_like(**behaviour: Any) -> During:
    """Jupiter and the RPC of a fake mainnet (`contract_support.FakeMainnet`), behaving so."""

    @contextlib.contextmanager
    def serving(world: World) -> Iterator[None]:
        with fake_mainnet() as network:
            for name, value in behaviour.items():
                setattr(network, name, value)
            world.setenv(SOLBOT_JUPITER_URL=network.url, SOLBOT_RPC_URL=network.url)
            yield

    return serving


def short_waits(world: World) -> None:
    world.monkeypatch.setattr(failures, "LOCK_WAIT_SECONDS", SHORT_WAIT)
    world.monkeypatch.setattr(failures, "CONNECT_TIMEOUT_SECONDS", SHORT_WAIT)
    world.monkeypatch.setattr(startup, "FIRST_CONTACT_SECONDS", SHORT_WAIT)


def manual_clock(world: World) -> None:
    """Downloads wait on a clock that moves only when asked (their back-offs take no time)."""
    world.monkeypatch.setattr(data_cmd, "_clock", lambda: ManualClock(1_735_689_600))


def postgres(path: str) -> Scene:
    def point(world: World) -> None:
        server = make_url(world.url)
        world.setenv(DATABASE_URL=server.set(database=None).render_as_string(False) + path)

    return point


def newer_schema(world: World) -> None:
    import asyncio

    from sqlalchemy import text

    from solbot.store.db import Database

    async def stamp() -> None:
        async with Database(world.url) as db, db.session() as s:
            await s.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))

    asyncio.run(stamp())


@contextlib.contextmanager
def locked(world: World) -> Iterator[None]:
    """Another process holds the database's write lock (SQLite) or the users table (PostgreSQL)
    for longer than solbot waits."""
    short_waits(world)
    if world.backend == "sqlite":
        with sqlite_write_lock(world.sqlite_path):
            yield
        return
    import asyncio

    from solbot.store.db import create_engine

    engine = create_engine(world.url)
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(engine.connect())
    from sqlalchemy import text

    loop.run_until_complete(conn.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")))
    try:
        yield
    finally:
        loop.run_until_complete(conn.rollback())
        loop.run_until_complete(conn.close())
        loop.run_until_complete(engine.dispose())
        loop.close()


@contextlib.contextmanager
def read_only_data_dir(world: World) -> Iterator[None]:
    """The data dir and the world's folder in it, read-only."""
    folders = (world.data_dir, load_settings(data_dir=world.data_dir).world_dir)
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(read_only(folder))
        yield


def both(*scenes: Scene) -> Scene:
    def all_of(world: World) -> None:
        for scene in scenes:
            scene(world)

    return all_of


def data_dir_is_a_file(world: World) -> None:
    shutil.rmtree(world.data_dir)
    world.data_dir.write_text("not a folder\n")


def not_a_database(world: World) -> None:
    world.sqlite_path.write_bytes(b"this is not a SQLite database" * 100)


def mainnet_paper(world: World) -> None:
    world.setenv(SOLBOT_NETWORK="mainnet", SOLBOT_PAPER="true")


def mainnet_live(world: World) -> None:
    world.setenv(SOLBOT_NETWORK="mainnet", SOLBOT_LIVE="I_UNDERSTAND", WALLET_PRIVATE_KEY=WALLET)


def remote_sim(world: World) -> None:
    world.setenv(WALLET_PRIVATE_KEY=WALLET)


def devnet(world: World) -> None:
    world.setenv(SOLBOT_NETWORK="devnet", WALLET_PRIVATE_KEY=WALLET)


def another_world(network: str, *, paper: bool = False) -> Scene:
    """The command acts in another world but is pointed at this world's (the sim's) database."""

    def point(world: World) -> None:
        flag = "true" if paper else "false"
        world.setenv(SOLBOT_NETWORK=network, SOLBOT_PAPER=flag, DATABASE_URL=world.url)
        world.setenv(SOLBOT_PAPER_DATABASE_URL=world.url)

    return point


def unsorted_database(world: World) -> None:
    """A database from before worlds at the data dir's top level, without a sim state."""
    shutil.copyfile(world.sqlite_path, world.data_dir / "solbot.db")


# ---------------------------------------------------------------------------------- the table
def silent_at_start(name: str, mode: Scene, *services: str) -> Case:
    """`solbot run` in `mode` while the named services accept connections and never answer."""
    return Case(
        name, RUN, "did not answer", given=both(mode, short_waits), meanwhile=hanging(*services)
    )


def early(
    name: str,
    args: tuple[str, ...],
    says: str,
    env: dict[str, str] | None = None,
    given: Scene | None = None,
) -> Case:
    """A row that fails while the settings or the command line are read."""
    return Case(name, args, says, env or {}, given=given, backends=BEFORE_ANY_DATABASE)


RPC, JUPITER = "SOLBOT_RPC_URL", "SOLBOT_JUPITER_URL"
DESTINATION = str(Keypair().pubkey())
LIST = ("list-users",)
RUN = ("run", "--stop-after", "30s")  # should a row ever start trading, it still ends
ADD_BOB = ("add-user", "-u", "bob")
KEYED = {"MASTER_ENCRYPTION_KEY": KEY.hex()}

CASES = [
    # Settings from the environment: every kind of value.
    early("unknown trade token", LIST, "FOO not in the token list", {"SOLBOT_TRADE_TOKENS": "FOO"}),
    early("trade tokens bad JSON", LIST, "SOLBOT_TRADE_TOKENS", {"SOLBOT_TRADE_TOKENS": "[JUP"}),
    early(
        "strategy params bad JSON", LIST, "SOLBOT_STRATEGY_PARAMS", {"SOLBOT_STRATEGY_PARAMS": "{"}
    ),
    early(
        "strategy params a list", LIST, "SOLBOT_STRATEGY_PARAMS", {"SOLBOT_STRATEGY_PARAMS": "[1]"}
    ),
    early("token list not JSON", LIST, "SOLBOT_TOKENS", {"SOLBOT_TOKENS": "nope"}),
    early(
        "token without mint", LIST, "SOLBOT_TOKENS[0].mint", {"SOLBOT_TOKENS": '[{"symbol":"X"}]'}
    ),
    early("number not a number", LIST, "SOLBOT_POLL_SECONDS", {"SOLBOT_POLL_SECONDS": "abc"}),
    early("number out of range", LIST, "SOLBOT_POLL_SECONDS", {"SOLBOT_POLL_SECONDS": "0"}),
    early("negative fee", LIST, "SOLBOT_FEE_BPS", {"SOLBOT_FEE_BPS": "-1"}),
    early("integer not an integer", LIST, "SOLBOT_SIM_SEED", {"SOLBOT_SIM_SEED": "1.5"}),
    early("unknown network", LIST, "SOLBOT_NETWORK", {"SOLBOT_NETWORK": "moon"}),
    early("unknown quote", LIST, "SOLBOT_QUOTE", {"SOLBOT_QUOTE": "EUR"}),
    early("unknown timeframe", LIST, "SOLBOT_TIMEFRAME", {"SOLBOT_TIMEFRAME": "2h"}),
    early("unknown risk tier", LIST, "SOLBOT_RISK_TIER", {"SOLBOT_RISK_TIER": "yolo"}),
    early("boolean not a boolean", LIST, "SOLBOT_PAPER", {"SOLBOT_PAPER": "maybe"}),
    early("unknown log level", LIST, "SOLBOT_LOG_LEVEL", {"SOLBOT_LOG_LEVEL": "loud"}),
    early(
        "telegram ids not numbers", LIST, "TELEGRAM_ALLOWED_IDS", {"TELEGRAM_ALLOWED_IDS": "a,b"}
    ),
    early("time of day", LIST, "SOLBOT_DAILY_SUMMARY_UTC", {"SOLBOT_DAILY_SUMMARY_UTC": "25:00"}),
    early("rate of zero", LIST, "SOLBOT_JUPITER_RPS", {"SOLBOT_JUPITER_RPS": "0"}),
    # Settings files.
    early(
        "solbot.toml broken",
        LIST,
        "solbot.toml is not valid TOML",
        given=file("solbot.toml", b"x = ["),
    ),
    early(
        "solbot.toml wrong type",
        LIST,
        "poll_seconds in solbot.toml",
        given=file("solbot.toml", b'poll_seconds = "often"\n'),
    ),
    early(
        ".env not UTF-8", LIST, ".env is not UTF-8", given=file(".env", b"SOLBOT_NETWORK=\xff\n")
    ),
    early(
        ".env bad value", LIST, "SOLBOT_QUOTE in .env", given=file(".env", b"SOLBOT_QUOTE=EUR\n")
    ),
    # Values only a command checks.
    Case("unknown strategy", RUN, "unknown strategy", {"SOLBOT_STRATEGY": "nope"}),
    Case(
        "strategy parameter type",
        RUN,
        "parameter 'fast'",
        {"SOLBOT_STRATEGY_PARAMS": '{"fast": "x"}'},
    ),
    Case(
        "master key too short",
        ADD_BOB,
        "MASTER_ENCRYPTION_KEY",
        {"MASTER_ENCRYPTION_KEY": "abc"},
    ),
    Case(
        "wrong master key",
        ("export-key", "-u", "alice"),
        "MASTER_ENCRYPTION_KEY",
        given=both(alice, lambda w: w.setenv(MASTER_ENCRYPTION_KEY=OTHER_KEY.hex())),
    ),
    Case(
        "wallet key garbage",
        RUN,
        "WALLET_PRIVATE_KEY",
        {"WALLET_PRIVATE_KEY": "nope"},
        given=both(devnet, closed(RPC)),
    ),
    Case("crash hook value", RUN, "SOLBOT_SIM_CRASH_AFTER", {"SOLBOT_SIM_CRASH_AFTER": "never"}),
    Case("unknown route", RUN, "SOLBOT_JUPITER_ROUTE", {"SOLBOT_JUPITER_ROUTE": "v3"}),
    Case(
        "trusted program not an address",
        RUN,
        "SOLBOT_TRUSTED_PROGRAMS",
        {"SOLBOT_TRUSTED_PROGRAMS": "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4,jupiter"},
    ),
    Case("mainnet without opt-in", RUN, "SOLBOT_LIVE", {"SOLBOT_NETWORK": "mainnet"}),
    # One bot per database: a second would trade every user again; no schema change under one.
    Case("bot on the database", RUN, "in use by solbot run, pid", meanwhile=another_bot),
    Case("upgrade under a bot", ("db", "upgrade"), "before upgrading", meanwhile=another_bot),
    Case(
        "withdraw under a bot",
        ("withdraw", "-u", "alice", "--to", DESTINATION, "--amount", "0.1"),
        "must have the database to itself",
        given=alice,
        meanwhile=another_bot,
    ),
    # Command-line values.
    early("speed zero", ("run", "--speed", "0"), "--speed"),
    early("duration", ("run", "--stop-after", "soon"), "--stop-after"),
    Case(
        "unknown user", ("set-risk", "-u", "nobody", "--tier", "aggressive"), "nobody", given=alice
    ),
    Case(
        "bad username",
        ("add-user", "-u", "A B"),
        "invalid username",
        KEYED,
    ),
    Case(
        "missing CSV",
        ("data", "import", "missing.csv", "--token", "JUP", "--timeframe", "1h"),
        "missing.csv",
    ),
    early("unknown option", ("list-users", "--colour"), "No such option"),
    Case(
        "withdraw to a program",
        ("withdraw", "-u", "alice", "--to", "11111111111111111111111111111111", "--amount", "0.1"),
        "System Program",
        given=both(devnet, alice, closed(RPC)),
        network="devnet",
    ),
    # The operator's fees.
    Case("fees sweep, no fee wallet", ("fees", "sweep"), "set SOLBOT_FEE_WALLET", KEYED),
    Case(
        "fees sweep, fee wallet not an address",
        ("fees", "sweep"),
        "SOLBOT_FEE_WALLET: 'nope' is not a Solana address",
        {**KEYED, "SOLBOT_FEE_WALLET": "nope"},
    ),
    Case(
        "run, fee wallet not an address",
        RUN,
        "SOLBOT_FEE_WALLET: 'nope' is not a Solana address",
        {**KEYED, "SOLBOT_FEE_WALLET": "nope"},
        given=alice,
    ),
    Case(
        "fees sweep, no sim world yet",
        ("fees", "sweep"),
        "no sim world yet",
        {**KEYED, "SOLBOT_FEE_WALLET": DESTINATION},
        given=alice,
    ),
    Case(
        "fees sweep, paper",
        ("fees", "sweep"),
        "paper trading pays no fees",
        {**KEYED, "SOLBOT_PAPER": "true", "SOLBOT_FEE_WALLET": DESTINATION},
        backends=BEFORE_ANY_DATABASE,
    ),
    # The data dir.
    Case("data dir is a file", LIST, "--data-dir: ", given=data_dir_is_a_file),
    Case("read-only data dir", LIST, "cannot open", meanwhile=read_only_data_dir, backends=SQLITE),
    Case(
        "read-only data dir, add-user",
        ADD_BOB,
        "cannot open",
        KEYED,
        meanwhile=read_only_data_dir,
        backends=SQLITE,
    ),
    Case("read-only data dir, run", RUN, "/data/sim/", meanwhile=read_only_data_dir),
    # Worlds.
    Case(
        "mainnet on the sim's database",
        LIST,
        "holds the sim world, not mainnet",
        given=another_world("mainnet"),
    ),
    Case(
        "devnet withdraw on the sim's database",
        ("withdraw", "-u", "alice", "--to", DESTINATION, "--amount", "0.1"),
        "holds the sim world, not devnet",
        KEYED,
        given=both(alice, another_world("devnet")),
    ),
    Case(
        "devnet fees sweep on the sim's database",
        ("fees", "sweep"),
        "holds the sim world, not devnet",
        {**KEYED, "SOLBOT_FEE_WALLET": DESTINATION},
        given=both(alice, another_world("devnet")),
    ),
    Case(
        "paper on the live sim's database",
        ("positions",),
        "holds the sim world, not sim-paper",
        given=another_world("sim", paper=True),
    ),
    Case(
        "a database from before worlds",
        ("positions",),
        "from before worlds",
        given=unsorted_database,
        backends=SQLITE,
    ),
    early("an unknown world's candles", ("data", "list", "--world", "moon"), "unknown world"),
    # The database.
    Case(
        "unsupported database", LIST, "unsupported database", {"DATABASE_URL": "mysql://db/solbot"}
    ),
    Case("database of a newer solbot", LIST, "newer solbot", given=newer_schema),
    Case(
        "not a database",
        LIST,
        "not a readable SQLite database",
        given=not_a_database,
        backends=SQLITE,
    ),
    Case("database locked", LIST, "lock", meanwhile=locked),
    Case("database locked, add-user", ADD_BOB, "lock", KEYED, meanwhile=locked),
    Case(
        "disk full during run",
        ("run", "--speed", "600", "--stop-after", "3h"),
        "is full",
        FAST_TRADER,
        meanwhile=lambda world: sqlite_cannot_grow(),
        backends=SQLITE,
        changes=True,
    ),
    Case(
        "PostgreSQL down",
        LIST,
        "connection refused",
        given=lambda w: w.setenv(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/x"),
        backends=POSTGRESQL,
    ),
    Case(
        "PostgreSQL never answers",
        LIST,
        "no answer within",
        given=short_waits,
        meanwhile=lambda world: _silent_postgres(world),
        backends=POSTGRESQL,
    ),
    Case(
        "no such PostgreSQL database",
        LIST,
        "createdb",
        given=postgres("/solbot_no_such_db"),
        backends=POSTGRESQL,
    ),
    Case(
        "no such PostgreSQL role",
        LIST,
        "refused the login",
        given=lambda w: w.setenv(
            DATABASE_URL=make_url(w.url).set(username="nobody_here").render_as_string(False)
        ),
        backends=POSTGRESQL,
    ),
    # Services, in each mode.
    Case("live: RPC down", RUN, "Solana RPC", given=both(mainnet_live, closed(RPC, JUPITER))),
    silent_at_start("live: RPC hangs", mainnet_live, RPC, JUPITER),
    Case("paper: Jupiter down", RUN, "Jupiter at", given=both(mainnet_paper, closed(JUPITER))),
    Case(
        "paper: Jupiter wants a key",
        RUN,
        "wants an API key (HTTP 401): set SOLBOT_JUPITER_API_KEY",
        given=mainnet_paper,
        meanwhile=jupiter_like(wants_key=True),
    ),
    Case(
        "live: Jupiter refuses the key",
        RUN,
        "refused the API key (HTTP 401): check SOLBOT_JUPITER_API_KEY",
        {"SOLBOT_JUPITER_API_KEY": "a-wrong-key"},
        given=mainnet_live,
        meanwhile=jupiter_like(wants_key=True),
    ),
    Case(
        "live: the build path is gone",
        RUN,
        "has no /swap/v2/build (HTTP 404)",
        {"SOLBOT_JUPITER_ROUTE": "build"},
        given=mainnet_live,
        meanwhile=jupiter_like(gone={"/swap/v2/build"}),
    ),
    silent_at_start("paper: Jupiter hangs", mainnet_paper, JUPITER),
    Case(
        "remote sim down",
        RUN,
        "solbot sim serve",
        given=both(remote_sim, closed(RPC, JUPITER)),
    ),
    silent_at_start("remote sim hangs", remote_sim, RPC, JUPITER),
    Case("devnet: RPC down", RUN, "Solana RPC", given=both(devnet, closed(RPC, JUPITER))),
    Case(
        "list-users: RPC down",
        LIST,
        "Solana RPC",
        given=both(devnet, alice, closed(RPC)),
        network="devnet",
    ),
    Case(
        "withdraw: RPC down",
        ("withdraw", "-u", "alice", "--to", DESTINATION, "--amount", "0.1"),
        "chain is unavailable",
        given=both(devnet, alice, closed(RPC)),
        network="devnet",
    ),
    Case(
        "download: GeckoTerminal down",
        ("data", "download", "--token", "JUP", "--days", "1"),
        "GeckoTerminal",
        given=both(closed("SOLBOT_GECKOTERMINAL_URL"), manual_clock),
        backends=BEFORE_ANY_DATABASE,
    ),
]


@contextlib.contextmanager
def _silent_postgres(world: World) -> Iterator[None]:
    with silent_server() as server:
        port = make_url(server.url).port
        world.setenv(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/solbot")
        yield


def test_the_table_is_long_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    backend: str,
    migrated_template: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[World]:
    """A clean environment (no stray setting, no proxy, every URL on 127.0.0.1), a data dir
    with the database of the row's world at the current schema, and the log handlers restored
    afterwards."""
    import logging
    import os

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if (
            name.startswith(("SOLBOT_", "TELEGRAM_"))
            or name.lower().endswith("_proxy")
            or name in ("DATABASE_URL", "MASTER_ENCRYPTION_KEY", "WALLET_PRIVATE_KEY")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SOLBOT_GECKOTERMINAL_URL", f"http://127.0.0.1:{closed_port()}/api/v2")
    monkeypatch.setattr(sys, "argv", ["solbot"])
    data_dir = tmp_path / "data"
    case: Case = request.node.callspec.params["case"]
    if case.network != "sim":
        monkeypatch.setenv("SOLBOT_NETWORK", case.network)
    if backend == "postgresql":  # the template is the sim's: another world starts empty
        url = request.getfixturevalue("db_url" if case.network == "sim" else "empty_url")
        monkeypatch.setenv("DATABASE_URL", url)
    cfg = load_settings(data_dir=data_dir)
    cfg.world_dir.mkdir(parents=True)
    if backend == "sqlite":
        url = cfg.database
        if case.network == "sim":
            shutil.copyfile(migrated_template, make_url(url).database or "")
    asyncio.run(schema.prepare(url, cfg.world, cfg.world_hints()))  # the row's world's database
    handlers = logging.getLogger().handlers[:]
    try:
        yield World(tmp_path, data_dir, url, backend, monkeypatch, capsys)
    finally:
        for handler in logging.getLogger().handlers:
            if handler not in handlers:
                handler.close()
        logging.getLogger().handlers[:] = handlers


@pytest.mark.parametrize(
    ("case", "backend"),
    [pytest.param(case, b, id=f"{case.name}-{b}") for case in CASES for b in case.backends],
    indirect=["backend"],
)
def test_a_bad_input_or_environment_is_one_line_and_changes_nothing(
    case: Case, backend: str, world: World
) -> None:
    if case.given is not None:
        case.given(world)
    world.setenv(**case.env)
    before = state_of(world.folder, world.url)
    with case.meanwhile(world) if case.meanwhile else contextlib.nullcontext():
        done = world.run(*case.args)
    line = done.error_line()  # exactly one line, `error: ...`, and no traceback
    assert case.says in line, line
    assert done.code == case.code, line
    if not case.changes:
        assert state_of(world.folder, world.url) == before
