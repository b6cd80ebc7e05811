"""Keys under pressure, through the CLI on SQLite and PostgreSQL: exports are limited across
commands (each command is a process of its own), a key never reaches a terminal without a
warning, a key that does not open is audited, and `pause` works whatever state the keys are in.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from solbot.store.tables import AuditRow, UserRow
from solbot.wallet.master import MasterKey

from .support import OLD as KEY  # the key the `cli` fixture sets
from .support import Run, run_sql
from .test_users_cli import add, rows


def actions(url: str) -> list[str]:
    return [row.action for row in sorted(rows(url, AuditRow), key=lambda r: r.seq)]


def damage_key(url: str, username: str) -> None:
    """Flip a bit of the user's sealed key (a damaged row, a bad restore)."""
    (user,) = [u for u in rows(url, UserRow) if u.username == username]
    sealed = user.encrypted_private_key
    assert sealed is not None
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    run_sql(url, update(UserRow).where(UserRow.id == user.id).values(encrypted_private_key=damaged))


def test_exports_are_limited_across_commands_and_the_refusal_is_audited(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `solbot export-key` is a new process: a limit kept in memory never saw the
    others. Three a minute, then the fourth is refused (and the user paused for a while)."""
    monkeypatch.setenv("SOLBOT_DECRYPT_PER_USER_PER_MINUTE", "3")
    _address, secret = add(cli, "alice")
    for _ in range(3):
        done = cli("export-key", "-u", "alice")
        assert (done.code, done.out.strip()) == (0, secret)
    refused = cli("export-key", "-u", "alice")
    assert refused.code == 2
    assert "export refused: 4 key decryptions for user" in refused.error_line()
    assert secret not in refused.out + refused.err
    again = cli("export-key", "-u", "alice")
    assert "signing is paused for user" in again.error_line()
    assert actions(empty_url) == [
        "create",
        "export",
        "export",
        "export",
        "decrypt_alert",
        "export_refused",
        "export_refused",
    ]


def test_a_key_goes_to_a_terminal_only_after_a_warning_and_a_yes(
    cli: Run, empty_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _address, secret = add(cli, "alice")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    declined = cli("export-key", "-u", "alice")
    assert declined.code == 1
    assert secret not in declined.out + declined.err
    assert "prints the private key of alice on this terminal" in declined.err
    assert "--out FILE" in declined.err
    assert "nothing exported" in declined.err
    assert actions(empty_url) == ["create"]  # not decrypted, not exported

    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    accepted = cli("export-key", "-u", "alice")
    assert accepted.code == 0
    assert accepted.out.strip().endswith(secret)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a script: no answer to give
    scripted = cli("export-key", "-u", "alice", "--yes")
    assert (scripted.code, scripted.out.strip()) == (0, secret)

    key_file = data_dir.parent / "alice.json"
    written = cli("export-key", "-u", "alice", "--format", "json", "--out", str(key_file))
    assert written.code == 0
    assert secret not in written.out + written.err
    assert len(json.loads(key_file.read_text())) == 64
    assert actions(empty_url) == ["create", "export", "export", "export"]


def test_a_key_that_does_not_open_is_refused_in_one_line_and_audited(
    cli: Run, empty_url: str, data_dir: Path
) -> None:
    add(cli, "alice")
    damage_key(empty_url, "alice")
    target = data_dir.parent / "alice.key"
    done = cli("export-key", "-u", "alice", "--out", str(target))
    assert done.code == 2
    assert "cannot open the stored key: the wallet of user" in done.error_line()
    assert not target.exists()  # the file made for it is gone again
    assert actions(empty_url) == ["create", "open_failed", "export_refused"]


@pytest.mark.parametrize(
    "state",
    ["no key", "not a key", "another key", "damaged wallet", "decryptions paused"],
)
def test_pause_works_whatever_the_state_of_the_keys(
    cli: Run, empty_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    add(cli, "alice")
    audited = state in ("damaged wallet", "decryptions paused")
    if state == "no key":
        monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    elif state == "not a key":
        monkeypatch.setenv("MASTER_ENCRYPTION_KEY", "this is no key")
    elif state == "another key":
        monkeypatch.setenv("MASTER_ENCRYPTION_KEY", MasterKey.generate().hex())
    elif state == "damaged wallet":
        damage_key(empty_url, "alice")
    else:
        monkeypatch.setenv("SOLBOT_DECRYPT_PER_USER_PER_MINUTE", "1")
        assert cli("export-key", "-u", "alice").code == 0
        assert "export refused" in cli("export-key", "-u", "alice").error_line()

    done = cli("pause", "-u", "alice", "--reason", "phone stolen")
    assert done.code == 0, done.err
    assert "alice paused" in done.out
    (user,) = rows(empty_url, UserRow)
    assert (user.is_active, user.paused_reason) == (False, "phone stolen")
    pauses = [r for r in rows(empty_url, AuditRow) if r.action == "pause"]
    if audited:
        assert len(pauses) == 1
        assert "not audited" not in done.out
        return
    assert pauses == []
    assert "not audited" in done.out
    log = (data_dir / "sim" / "solbot.log").read_text()  # the world's log
    assert "pause of alice by cli (reason: phone stolen) not audited" in log
    assert KEY.hex() not in log
