"""The user and wallet commands end to end, on SQLite and on PostgreSQL: `add-user`,
`import-user`, `export-key`, `list-users`, `pause`/`resume`, `set-risk`, `audit verify`.

Bad input is one line on stderr with exit code 2 and leaves the database as it was; a private
key appears only where printing it is the command's purpose."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair
from sqlalchemy import func, select, update

from solbot.store.db import Database
from solbot.store.tables import AuditRow, UserRow
from solbot.wallet.master import MasterKey

from .support import OLD, Run


def rows(url: str, model: type) -> list:
    async def read() -> list:
        db = Database(url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(model)))
        finally:
            await db.dispose()

    return asyncio.run(read())


def add(cli: Run, name: str, *args: str) -> tuple[str, str]:
    """Add a user; their address and the private key the command printed."""
    done = cli("add-user", "--username", name, *args)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    address = next(line.split(": ")[1] for line in lines if line.startswith("address: "))
    keys = [line for line in lines if len(line) > 80 and " " not in line]
    return address, keys[0] if keys else ""


def test_add_user_makes_a_sealed_wallet_and_shows_its_key_once(cli: Run, empty_url: str) -> None:
    address, secret = add(cli, "alice")
    keypair = Keypair.from_base58_string(secret)
    assert str(keypair.pubkey()) == address
    (user,) = rows(empty_url, UserRow)
    assert (user.username, user.wallet_pubkey, user.custody) == ("alice", address, "vault")
    assert user.master_key_id == OLD.key_id
    assert keypair.secret() not in user.encrypted_private_key
    assert user.risk_tier == "moderate"
    (entry,) = rows(empty_url, AuditRow)
    assert (entry.actor, entry.action, entry.user_id) == ("cli", "create", user.id)
    assert secret not in entry.details

    _address, none = add(cli, "bob", "--no-show-key", "--tier", "aggressive")
    assert none == ""
    assert cli("audit", "verify").code == 0


def deposit_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index("deposit to this address to start trading:")
    return [line.strip() for line in lines[start + 1 : start + 3]]


def test_add_user_says_what_to_deposit_for_a_usdc_portfolio(cli: Run) -> None:
    done = cli("add-user", "--username", "alice", "--no-show-key")
    assert done.code == 0, done.err
    assert deposit_lines(done.out) == [
        "USDC: at least 10; no position opens below 10 USDC (SOLBOT_MIN_TRADE_CASH), and each "
        "takes 5% of the portfolio's value",
        "SOL: at least 0.05 for network fees (the fee reserve: never traded)",
    ]


def test_add_user_says_what_to_deposit_for_a_sol_portfolio(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLBOT_QUOTE", "SOL")
    monkeypatch.setenv("SOLBOT_MIN_TRADE_CASH", "0.25")
    done = cli("add-user", "--username", "alice", "--tier", "aggressive", "--no-show-key")
    assert done.code == 0, done.err
    lines = deposit_lines(done.out)
    assert lines[0] == (
        "SOL: at least 0.3: 0.05 for network fees (the fee reserve: never traded) plus 0.25, "
        "below which no position opens (SOLBOT_MIN_TRADE_CASH); each takes 10% of the "
        "portfolio's value"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--username", "Alice"), "invalid username 'Alice'"),
        (("--username", "al"), "invalid username 'al'"),
        (("--username", "a" * 33), "invalid username"),
        (("--username", "bob-smith"), "invalid username"),
        (("--username", "bobby", "--tier", "yolo"), "unknown risk tier 'yolo'"),
        (("--username", "alice"), "user 'alice' already exists"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli: Run, empty_url: str, args: tuple[str, ...], message: str
) -> None:
    add(cli, "alice")
    before = (rows(empty_url, UserRow), rows(empty_url, AuditRow))
    done = cli("add-user", *args)
    assert done.code == 2
    assert message in done.error_line()
    after = (rows(empty_url, UserRow), rows(empty_url, AuditRow))
    assert [u.id for u in after[0]] == [u.id for u in before[0]]
    assert len(after[1]) == len(before[1])


def test_without_or_with_a_wrong_master_key_nothing_is_written(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    done = cli("add-user", "--username", "bob")
    assert "MASTER_ENCRYPTION_KEY is not set" in done.error_line()
    other = MasterKey.generate()
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", other.hex())
    for args in (("add-user", "--username", "bob"), ("export-key", "--username", "alice")):
        done = cli(*args)
        assert done.code == 2
        line = done.error_line()
        assert f"key id {other.key_id}" in line
        assert "is not this database's master key" in line
        assert other.hex() not in done.out + done.err
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", "00" * 31)
    assert "must be 64 hex characters" in cli("add-user", "--username", "bob").error_line()
    assert [u.username for u in rows(empty_url, UserRow)] == ["alice"]
    assert len(rows(empty_url, AuditRow)) == 1


def test_export_key_gives_back_the_key_in_both_formats(
    cli: Run, data_dir: Path, empty_url: str
) -> None:
    _address, secret = add(cli, "alice")
    done = cli("export-key", "--username", "alice")
    assert done.code == 0, done.err
    assert done.out.strip() == secret

    target = data_dir.parent / "alice.json"
    done = cli("export-key", "-u", "alice", "--format", "json", "--out", str(target))
    assert done.code == 0, done.err
    assert secret not in done.out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert Keypair.from_bytes(bytes(json.loads(target.read_text()))) == (
        Keypair.from_base58_string(secret)
    )
    again = cli("export-key", "-u", "alice", "--format", "json", "--out", str(target))
    assert "refusing to overwrite" in again.error_line()
    assert (
        "unknown key format 'pem'"
        in cli("export-key", "-u", "alice", "--format", "pem").error_line()
    )
    actions = [e.action for e in rows(empty_url, AuditRow)]
    assert actions == ["create", "export", "export"]


def test_import_user_from_a_file_or_stdin_never_echoes_a_bad_key(
    cli: Run, data_dir: Path, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keypair = Keypair()
    key_file = data_dir.parent / "id.json"
    key_file.write_text(json.dumps(list(bytes(keypair))))
    done = cli("import-user", "--username", "carol", "--key-file", str(key_file))
    assert done.code == 0, done.err
    assert str(keypair.pubkey()) in done.out

    other = Keypair()
    monkeypatch.setattr("sys.stdin", _Stdin(str(other) + "\n"))
    done = cli("import-user", "--username", "dave")
    assert done.code == 0, done.err
    assert str(other) not in done.out

    bad = str(Keypair())[:-3] + "111"
    monkeypatch.setattr("sys.stdin", _Stdin(bad))
    done = cli("import-user", "--username", "erin")
    assert "not a Solana private key" in done.error_line()
    assert bad not in done.err
    assert (
        "already belongs to a user"
        in cli("import-user", "--username", "frank", "--key-file", str(key_file)).error_line()
    )
    assert [u.username for u in rows(empty_url, UserRow)] == ["carol", "dave"]


def test_pause_works_without_the_key_resume_and_risk_need_it(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    assert cli("pause", "-u", "alice", "--reason", "lost phone").code == 0
    assert "MASTER_ENCRYPTION_KEY is not set" in cli("resume", "-u", "alice").error_line()
    (user,) = rows(empty_url, UserRow)
    assert (user.is_active, user.paused_reason) == (False, "lost phone")

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    assert "was already paused" in cli("pause", "-u", "alice").out
    assert cli("resume", "-u", "alice").code == 0
    done = cli("set-risk", "-u", "alice", "--max-position-pct", "7.5")
    assert done.code == 0, done.err
    assert "moderate (position 7.5%)" in done.out
    assert "conservative" in cli("set-risk", "-u", "alice", "--tier", "conservative").out
    (user,) = rows(empty_url, UserRow)
    assert (user.risk_tier, user.max_position_size_pct, user.is_active) == (
        "conservative",
        None,
        True,
    )
    for args, message in [
        (("--max-position-pct", "0"), "above 0 and at most 100"),
        (("--max-daily-loss-pct", "150"), "above 0 and at most 100"),
        (("--max-daily-loss-pct", "lots"), "must be a number"),
        ((), "give --tier or a limit"),
    ]:
        assert message in cli("set-risk", "-u", "alice", *args).error_line()
    assert "no user named 'zed'" in cli("pause", "-u", "zed").error_line()
    actions = [e.action for e in rows(empty_url, AuditRow)]
    assert actions == ["create", "resume", "risk", "risk"]  # the keyless pause was only logged


def test_list_users_shows_every_user_and_their_state(cli: Run) -> None:
    add(cli, "alice")
    add(cli, "bob", "--tier", "aggressive")
    cli("pause", "-u", "bob")
    done = cli("list-users")
    assert done.code == 0, done.err
    text = " ".join(done.out.split())
    assert "alice" in text
    assert "bob" in text
    assert "aggressive" in text
    assert "paused" in text
    assert "no sim world yet" in text


def test_audit_verify_reports_an_edited_row(cli: Run, empty_url: str) -> None:
    add(cli, "alice")
    cli("pause", "-u", "alice")

    async def tamper() -> None:
        db = Database(empty_url)
        try:
            async with db.session() as s:
                await s.execute(update(AuditRow).where(AuditRow.seq == 1).values(actor="ghost"))
                assert await s.scalar(select(func.count()).select_from(AuditRow)) == 2
        finally:
            await db.dispose()

    asyncio.run(tamper())
    done = cli("audit", "verify")
    assert done.code == 1
    assert "row 1: edited" in done.out


class _Stdin:
    """A non-terminal standard input holding `text`."""

    def __init__(self, text: str) -> None:
        self._text = text

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self._text
