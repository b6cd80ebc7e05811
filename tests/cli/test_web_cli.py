"""`solbot web token ...` and `solbot web` as the operator uses them: a token shown once and
stored as a digest, listed with its last use, revoked; the dashboard served on 127.0.0.1 by
a real process, answering its token, stopping on a signal within seconds; a taken port or a
token made without the master key is one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .support import Outcome, Run, snapshot
from .test_stopping import child_env

SOLBOT = [sys.executable, "-m", "solbot.cli.app"]
LIMIT = 5.0


def test_a_token_is_shown_once_listed_and_revoked(cli: Run, empty_url: str) -> None:
    made = cli("web", "token", "create", "laptop")
    assert made.code == 0, made.err
    token = made.out.splitlines()[-1]
    assert token.startswith("solbot_op_")
    stored = json.dumps(snapshot(empty_url), default=str)
    assert token not in stored
    listed = cli("web", "token", "list", "--json")
    (row,) = json.loads(listed.out)["tokens"]
    assert (row["name"], row["last_used_at"], row["revoked_at"]) == ("laptop", None, None)
    assert "laptop" in cli("web", "token", "list").out
    assert (
        cli("web", "token", "create", "laptop")
        .error_line()
        .endswith("a token named 'laptop' exists (`solbot web token list`)")
    )
    done = cli("web", "token", "revoke", "laptop")
    assert done.out.strip() == "token 'laptop' revoked"
    assert json.loads(cli("web", "token", "list", "--json").out)["tokens"][0]["revoked_at"]
    assert "no token named" in cli("web", "token", "revoke", "nope").error_line()
    as_json = cli("web", "token", "create", "grafana", "--json")
    assert json.loads(as_json.out)["token"].startswith("solbot_op_")


def test_a_token_needs_the_master_key(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    outcome: Outcome = cli("web", "token", "create", "laptop")
    assert "MASTER_ENCRYPTION_KEY" in outcome.error_line()
    assert outcome.code == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def solbot(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SOLBOT, "--data-dir", str(folder / "data"), *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_dashboard_serves_its_token_and_stops_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    from solbot.wallet.master import MasterKey

    env = child_env(tmp_path, {"MASTER_ENCRYPTION_KEY": MasterKey.generate().hex()})
    made = solbot(tmp_path, env, "web", "token", "create", "laptop")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    port = free_port()
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            [*SOLBOT, "--data-dir", str(tmp_path / "data"), "web", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=o, stderr=e,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops" not in out.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, out.read_text() + err.read_text()
            time.sleep(0.05)
        assert f"dashboard on http://127.0.0.1:{port}" in out.read_text()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            assert client.get("/api/v1/status").status_code == 401
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json() == {
                "role": "operator",
                "username": None,
                "actor": "web:operator:laptop",
            }
            status = client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            assert status.json()["world"] == "sim"
        # A second dashboard on the same port: one line, exit 2.
        taken = solbot(tmp_path, env, "web", "--port", str(port))
        assert taken.returncode == 2, taken.stderr
        assert taken.stderr.startswith(f"error: the dashboard cannot listen on 127.0.0.1:{port}")
        assert len(taken.stderr.strip().splitlines()) == 1
        sent = time.monotonic()
        process.send_signal(signum)
        process.wait(timeout=LIMIT)
        assert time.monotonic() - sent < LIMIT
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.read_text()
    assert err.read_text() == ""
    for path in (tmp_path / "data").rglob("*"):  # the log, the database: a digest only
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert os.stat(tmp_path / "data").st_mode & 0o077 == 0


def test_plain_http_beyond_this_machine_is_refused(tmp_path: Path) -> None:
    env = child_env(tmp_path, {"SOLBOT_WEB_HOST": "0.0.0.0"})
    refused = solbot(tmp_path, env, "web", "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: SOLBOT_WEB_HOST=0.0.0.0 would serve the dashboard")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "data").rglob("*.db"))  # nothing opened, nothing changed


def dashboard_answers(port: int) -> bool:
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            return client.get("/api/v1/status", timeout=2).status_code == 401
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_the_runs_dashboard_never_outlives_the_run(tmp_path: Path, how: str) -> None:
    """`solbot run --web` serves its dashboard from a process of its own: a Ctrl-C stops both
    within seconds, and a run killed outright (kill -9) leaves no dashboard behind."""
    from solbot.wallet.master import MasterKey

    port = free_port()
    env = child_env(
        tmp_path,
        {"MASTER_ENCRYPTION_KEY": MasterKey.generate().hex(), "SOLBOT_WEB_PORT": str(port)},
    )
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            [*SOLBOT, "--data-dir", str(tmp_path / "data"), "run", "--web"],
            cwd=tmp_path, env=env, stdout=o, stderr=e,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not dashboard_answers(port):
            assert process.poll() is None, out.read_text() + err.read_text()
            assert time.monotonic() < deadline, out.read_text() + err.read_text()
            time.sleep(0.1)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT if how == "SIGINT" else signal.SIGKILL)
        process.wait(timeout=LIMIT + 5)
        while dashboard_answers(port):
            assert time.monotonic() - sent < LIMIT, "the dashboard outlived the run"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if how == "SIGINT":
        assert time.monotonic() - sent < LIMIT + 5
        assert process.returncode == 0, err.read_text()
        assert "run summary" in out.read_text()
        assert err.read_text() == ""
    with socket.socket() as sock:  # the port is free again: nothing holds it
        sock.bind(("127.0.0.1", port))


def test_the_telegram_widget_without_https_is_refused(tmp_path: Path) -> None:
    env = child_env(
        tmp_path, {"SOLBOT_WEB_TELEGRAM_LOGIN": "solbot_friends_bot", "TELEGRAM_BOT_TOKEN": "1:x"}
    )
    refused = solbot(tmp_path, env, "web", "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "error: SOLBOT_WEB_TELEGRAM_LOGIN needs SOLBOT_WEB_URL=https://"
    )
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "data").rglob("*.db"))  # nothing opened, nothing changed


def test_sessions_listed_and_a_users_ended(cli: Run, empty_url: str) -> None:
    from .support import OLD, add_wallet

    add_wallet(cli, "alice")
    cli("web", "token", "create", "laptop")

    async def signed_in() -> None:
        from solbot.clock import WallClock
        from solbot.services.custody import CustodyService
        from solbot.store.db import Database
        from solbot.store.users import Users
        from solbot.web.credentials import Credentials

        db = Database(empty_url)
        try:
            credentials = Credentials(CustodyService(db, WallClock(), OLD), WallClock())
            async with db.session() as s:
                alice = await Users(s, WallClock()).by_username("alice")
            assert alice is not None
            assert await credentials.sign_in(await credentials.create_link(alice.id))
            await credentials.create_link(alice.id)  # one more, unused
        finally:
            await db.dispose()

    import asyncio

    asyncio.run(signed_in())
    listed = json.loads(cli("web", "sessions", "list", "--json").out)["sessions"]
    assert [s["who"] for s in listed] == ["alice"]
    ended = cli("web", "sessions", "end", "alice")
    assert ended.out.strip() == "1 session(s) of alice ended; their unused links spent"
    assert json.loads(cli("web", "sessions", "list", "--json").out)["sessions"] == []
    assert "nobody is signed in" in cli("web", "sessions", "list").out
    assert "no user 'carol'" in cli("web", "sessions", "end", "carol").error_line()
