"""No secret leaks: a whole session of the real `solbot` command (users added, imported, paused,
traded for on the sim with DEBUG logging, a withdrawal, exports, a backup and its drill, a key
rotation), then every log line, every command's output and every file in the data dir is
searched for every user's private key (base58, JSON array, hex, in any case) and for both master
keys. The only places a key may appear are the outputs whose purpose is to show it: `add-user`
(once), `export-key` and `gen-master-key`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from solders.keypair import Keypair

from solbot.wallet.master import MasterKey

from .support import SOLBOT, clean_env

EXPLICIT = ("gen-master-key", "add-user", "export-key")


def forms(keypair: Keypair) -> list[str]:
    raw = bytes(keypair)
    return [
        str(keypair),
        json.dumps(list(raw)),
        json.dumps(list(raw), separators=(",", ":")),
        str(list(raw)),
        raw.hex(),
        raw.hex().upper(),
        raw[:32].hex(),  # the seed alone
    ]


def test_a_whole_session_never_leaks_a_key(tmp_path: Path) -> None:
    env = clean_env(SOLBOT_LOG_LEVEL="debug", SOLBOT_DATA_DIR=str(tmp_path / "data"))
    outputs: list[tuple[str, str]] = []  # (command, stdout + stderr) of the non-explicit ones

    def solbot(*args: str, check: bool = True, **extra: str) -> str:
        done = subprocess.run(
            [*SOLBOT, *args],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )
        text = done.stdout + done.stderr
        if check:
            assert done.returncode == 0, f"solbot {' '.join(args)}:\n{text}"
        if args[0] not in EXPLICIT:
            outputs.append((" ".join(args), text))
        return done.stdout

    old, new = MasterKey.generate().hex(), MasterKey.generate().hex()  # what gen-master-key prints
    env["MASTER_ENCRYPTION_KEY"] = old

    shown = solbot("add-user", "--username", "alice", "--tier", "aggressive")
    alice = Keypair.from_base58_string(
        next(line for line in shown.splitlines() if len(line) > 80 and " " not in line)
    )
    solbot("add-user", "--username", "bob", "--no-show-key", "--tier", "aggressive")
    carol = Keypair()
    key_file = tmp_path / "carol.json"
    key_file.write_text(json.dumps(list(bytes(carol))))
    solbot("import-user", "--username", "carol", "--key-file", str(key_file))
    key_file.unlink()
    solbot("import-user", "--username", "dave", check=False)  # no key on stdin: an error
    solbot("set-risk", "--username", "carol", "--max-position-pct", "20")

    solbot("run", "--speed", "600", "--stop-after", "2h", "--verbose")
    solbot("trades")
    solbot("list-users")
    solbot("withdraw", "--username", "alice", "--to", str(Keypair().pubkey()), "--amount", "0.1")
    solbot("withdraw", "--username", "bob", "--to", " nope", "--amount", "0.1", check=False)
    bob = Keypair.from_base58_string(solbot("export-key", "--username", "bob").strip())
    solbot("backup", "create", str(tmp_path / "backup.json.gz"))
    solbot("backup", "verify", str(tmp_path / "backup.json.gz"))
    env.update(MASTER_ENCRYPTION_KEY=new, MASTER_ENCRYPTION_KEY_OLD=old)
    solbot("rotate-master-key")
    solbot("audit", "verify")
    solbot("run", "--speed", "600", "--stop-after", "15m")  # signing under the new key

    secrets = [s for k in (alice, bob, carol) for s in forms(k)]
    secrets += [old, old.upper(), new, new.upper()]
    for command, text in outputs:
        for secret in secrets:
            assert secret not in text, f"a secret in the output of `solbot {command}`"
    log = (tmp_path / "data" / "sim" / "solbot.log").read_text()
    assert '"level": "debug"' in log  # the session really logged at DEBUG
    assert "INSERT INTO" in log  # SQL with its parameters, too
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert any(p.name == "solbot.db" for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"a secret in {path.name}"
        for keypair in (alice, bob, carol):
            assert bytes(keypair)[:32] not in content, f"a raw seed in {path.name}"
