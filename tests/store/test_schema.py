"""Migrations build exactly the models' schema; `prepare` migrates only what is new."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, inspect, text

from solbot.errors import UserError
from solbot.store import schema
from solbot.store.db import create_engine
from solbot.store.tables import Base
from solbot.store.types import Atoms, Price, UtcDateTime

HEAD = schema.head_revision()  # the packaged head
NEXT = f"{int(HEAD) + 1:04d}"  # a revision newer than it, written by the tests below

PROBE_REVISION = f'''"""Probe: a revision newer than the packaged head, for tests."""

import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("probe")
'''


async def _run(url: str, fn: Any, *, begin: bool = False) -> Any:
    engine = create_engine(url)
    try:
        if begin:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _diffs(conn: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def _options(index: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in index.get("dialect_options", {}).items()))


def _structure(conn: Connection) -> dict[str, Any]:
    """What `compare_metadata` leaves out: names, CHECKs, partial-index conditions."""
    insp = inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(t for t in insp.get_table_names() if t != "alembic_version"):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table),
            "fks": sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"], _options(i))
                for i in insp.get_indexes(table)
            ),
            "checks": sorted((c["name"], c["sqltext"]) for c in insp.get_check_constraints(table)),
        }
    return out


async def test_migrated_schema_equals_the_models(empty_url: str) -> None:
    assert await schema.upgrade(empty_url) == schema.head_revision()
    assert await _run(empty_url, _diffs) == []


async def test_the_comparison_would_see_a_difference(db_url: str) -> None:
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["orders"].append_column(Column("extra", Integer))
    diffs = await _run(db_url, lambda conn: _diffs(conn, changed))
    assert [d[0] for d in diffs] == ["add_column"]


async def test_migration_matches_create_all_in_every_name_and_constraint(
    empty_url: str, tmp_path: Path
) -> None:
    await schema.upgrade(empty_url)
    migrated = await _run(empty_url, _structure)
    if empty_url.startswith("sqlite"):
        reference_url = f"sqlite:///{tmp_path / 'create_all.db'}"
    else:  # PostgreSQL: empty the test database and build the reference there
        reference_url = empty_url
        await _run(empty_url, lambda c: c.execute(text("DROP SCHEMA public CASCADE")), begin=True)
        await _run(empty_url, lambda c: c.execute(text("CREATE SCHEMA public")), begin=True)
    await _run(reference_url, Base.metadata.create_all, begin=True)
    reference = await _run(reference_url, _structure)
    assert set(migrated) == set(Base.metadata.tables)
    assert {"users", "audit_log", "withdrawals", "withdrawal_addresses", "orders"} <= set(migrated)
    assert migrated == reference
    index = {i[0]: i for i in migrated["positions"]["indexes"]}["uq_positions_open_user_token"]
    assert bool(index[2]) is True
    options = dict(index[3])
    where = options.get("sqlite_where") or options["postgresql_where"]
    assert where.replace("::text", "").replace("(", "").replace(")", "") == "status = 'open'"


async def test_downgrade_removes_everything(empty_url: str) -> None:
    await schema.upgrade(empty_url)

    def downgrade(conn: Connection) -> list[str]:
        command.downgrade(schema.alembic_config(conn), "base")
        return [t for t in inspect(conn).get_table_names() if t != "alembic_version"]

    assert await _run(empty_url, downgrade, begin=True) == []
    assert await schema.current_revision(empty_url) is None


async def test_prepare_creates_a_new_database_then_leaves_it_alone(empty_url: str) -> None:
    assert await schema.current_revision(empty_url) is None
    assert await schema.prepare(empty_url) is True
    assert await schema.current_revision(empty_url) == schema.head_revision() == HEAD
    assert await schema.prepare(empty_url) is False
    await schema.check_current(empty_url)


async def test_prepare_refuses_a_database_with_tables_but_no_schema(empty_url: str) -> None:
    def stamp_base_with_a_table(conn: Connection) -> None:
        command.stamp(schema.alembic_config(conn), "base")
        conn.execute(text("CREATE TABLE dummy (id INTEGER PRIMARY KEY)"))

    await _run(empty_url, stamp_base_with_a_table, begin=True)
    message = (
        f"database schema is at base (no solbot schema), the code needs {HEAD}; "
        "run `solbot db upgrade`"
    )
    with pytest.raises(UserError) as caught:
        await schema.prepare(empty_url)
    assert str(caught.value) == message
    with pytest.raises(UserError, match="at base"):
        await schema.check_current(empty_url)
    # What the hint says works, and keeps the foreign table.
    assert await schema.upgrade(empty_url) == HEAD
    assert await schema.prepare(empty_url) is False
    tables = await _run(empty_url, lambda c: set(inspect(c).get_table_names()))
    assert {"dummy", "orders"} <= tables


@pytest.fixture
def newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This code plus a revision NEXT, so that a database at HEAD is out of date."""
    migrations = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / f"{NEXT}_probe.py").write_text(PROBE_REVISION)
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", migrations)
    return migrations


async def test_prepare_refuses_an_out_of_date_database(db_url: str, newer_code: Path) -> None:
    assert schema.head_revision() == NEXT
    with pytest.raises(UserError) as caught:
        await schema.prepare(db_url)
    assert str(caught.value) == (
        f"database schema is at {HEAD}, the code needs {NEXT}; run `solbot db upgrade`"
    )
    with pytest.raises(UserError, match=f"at {HEAD}, the code needs {NEXT}"):
        await schema.check_current(db_url)
    assert await schema.current_revision(db_url) == HEAD  # refused means untouched
    assert await schema.upgrade(db_url) == NEXT
    assert await schema.prepare(db_url) is False


async def test_a_database_from_a_newer_solbot_is_named_as_such(db_url: str) -> None:
    await _run(
        db_url,
        lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0099'")),
        begin=True,
    )
    with pytest.raises(UserError, match="at 0099, which this version of solbot does not know"):
        await schema.prepare(db_url)
    with pytest.raises(UserError, match="upgrade solbot"):
        await schema.check_current(db_url)


async def test_upgrade_to_an_unknown_revision_is_a_user_error(empty_url: str) -> None:
    with pytest.raises(UserError, match="cannot upgrade the database"):
        await schema.upgrade(empty_url, "nope")
    assert await schema.current_revision(empty_url) is None


async def test_a_failed_migration_leaves_nothing_behind(empty_url: str, newer_code: Path) -> None:
    broken = PROBE_REVISION.replace(
        'op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))',
        'op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))\n'
        '    op.execute("SELECT * FROM no_such_table")',
    )
    (newer_code / "versions" / f"{NEXT}_probe.py").write_text(broken)
    with pytest.raises(Exception, match="no_such_table"):
        await schema.prepare(empty_url)
    tables = await _run(empty_url, lambda c: inspect(c).get_table_names())
    assert tables == []


def test_migrations_ship_inside_the_package() -> None:
    assert schema.MIGRATIONS_DIR.is_dir()
    assert (schema.MIGRATIONS_DIR / "env.py").is_file()
    assert (schema.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (schema.MIGRATIONS_DIR / "versions" / "0001_trading_core.py").is_file()


async def test_autogenerate_finds_nothing_to_do_and_renders_the_template(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", migrations)

    def autogenerate(conn: Connection) -> None:
        config = schema.alembic_config(conn)
        command.revision(config, message="nothing", autogenerate=True, rev_id=NEXT)

    await _run(db_url, autogenerate, begin=True)
    (script,) = (migrations / "versions").glob(f"{NEXT}_*.py")
    source = script.read_text()
    compile(source, str(script), "exec")
    assert f"down_revision: str | None = '{HEAD}'" in source
    assert "def upgrade() -> None:\n    # ### commands auto generated by Alembic" in source
    assert "op." not in source.split("def upgrade")[1].split("def downgrade")[0]


async def test_autogenerated_money_columns_are_frozen_and_migrate(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new money column is written out as plain SQLAlchemy types, and the migration it makes
    brings the database level with the changed models on either database."""
    migrations = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", migrations)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["orders"].append_column(Column("tip", Atoms()))
    changed.tables["orders"].append_column(Column("mark", Price()))
    changed.tables["orders"].append_column(Column("seen_at", UtcDateTime()))

    def autogenerate(conn: Connection) -> None:
        config = schema.alembic_config(conn)
        config.attributes["target_metadata"] = changed
        command.revision(config, message="more", autogenerate=True, rev_id=NEXT)

    await _run(db_url, autogenerate, begin=True)
    (script,) = (migrations / "versions").glob(f"{NEXT}_*.py")
    source = script.read_text()
    assert "solbot" not in source
    assert 'sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")' in source
    assert 'sa.Text().with_variant(sa.Numeric(38, 18), "postgresql")' in source
    assert "sa.DateTime(timezone=True)" in source
    assert await schema.upgrade(db_url) == NEXT
    assert await _run(db_url, lambda conn: _diffs(conn, changed)) == []


async def test_upgrading_a_phase_0_journal_adopts_its_user_and_keeps_every_row(
    empty_url: str,
) -> None:
    """A database at 0002 traded for the operator without a users table; 0003 gives that id a
    user row (its wallet filled in by the next run), so the new foreign keys hold."""
    assert await schema.upgrade(empty_url, "0002") == "0002"

    def phase0(conn: Connection) -> None:
        stamp: Any = datetime(2026, 1, 1, tzinfo=UTC)
        if conn.dialect.name == "sqlite":
            stamp = "2026-01-01 00:00:00.000000"
        conn.execute(
            text(
                "INSERT INTO orders (id, idempotency_key, user_id, token, input_mint, "
                "output_mint, side, purpose, state, amount_in, route, attempts, created_at, "
                "updated_at) VALUES ('o1', 'operator:k:buy', 'operator', 'JUP', 'a', 'b', 'buy', "
                "'entry', 'failed', '1', 'v2', 0, :t, :t)"
            ),
            {"t": stamp},
        )

    await _run(empty_url, phase0, begin=True)
    assert await schema.upgrade(empty_url) == HEAD

    def read(conn: Connection) -> tuple[Any, ...]:
        user = conn.execute(text("SELECT id, username, custody, wallet_pubkey FROM users")).one()
        order = conn.execute(text("SELECT id, user_id FROM orders")).one()
        return tuple(user), tuple(order)

    user, order = await _run(empty_url, read)
    assert user == ("operator", "operator", "external", "unknown:0")
    assert order == ("o1", "operator")
