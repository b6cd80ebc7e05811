"""`solbot tokens add MINT`: decimals and authorities read from the chain (here the saved sim
world), a freeze authority refused unless forced, the token list itself never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.sim.network import SimNetwork

from .support import NOW, Run

PLAIN = Keypair().pubkey()
FROZEN = Keypair().pubkey()
ISSUER = Keypair().pubkey()
POOL = str(Keypair().pubkey())


@pytest.fixture
def world(data_dir: Path) -> Path:
    """A saved sim world whose chain has two mints the token list does not: one plain, one
    whose issuer can freeze holders."""
    cfg = Settings(data_dir=data_dir)
    tokens = list(cfg.token_map().values())
    network = SimNetwork.create(
        tokens=tokens, clock=ManualClock(NOW), seed=1, history_seconds=3600,
        wallet_sol=1, wallet_usdc=0,
    )  # fmt: skip
    network.ledger.create_mint(PLAIN, 7, ISSUER)
    network.ledger.create_mint(FROZEN, 6, ISSUER, freeze_authority=ISSUER)
    cfg.sim_state_path.parent.mkdir(parents=True, exist_ok=True)
    network.save(cfg.sim_state_path)
    network.close()
    return data_dir / "tokens.json"


def test_a_mint_is_added_with_the_decimals_the_chain_says(run: Run, world: Path) -> None:
    done = run("tokens", "add", str(PLAIN), "--symbol", "popcat", "--pool", POOL)

    assert done.code == 0, done.err
    assert "POPCAT" in done.out
    assert "7 decimals" in done.out
    assert oct(world.stat().st_mode & 0o777) == "0o600"
    listed = json.loads(run("tokens", "list", "--json").out)["tokens"]
    added = [t for t in listed if t["symbol"] == "POPCAT"]
    assert added == [
        {"symbol": "POPCAT", "mint": str(PLAIN), "decimals": 7, "pool": POOL, "source": "added"}
    ]
    assert {"JUP", "BONK"} <= {t["symbol"] for t in listed}  # the list itself is all there
    synth = run("data", "synth", "-t", "POPCAT", "--bars", "10")  # a known token from now on
    assert synth.code == 0, synth.err


def test_a_mint_with_a_freeze_authority_needs_force(run: Run, world: Path) -> None:
    refused = run("tokens", "add", str(FROZEN), "--symbol", "ICE")
    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert f"has a freeze authority ({ISSUER})" in refused.err
    assert "--force" in refused.err
    assert not world.exists()

    forced = run("tokens", "add", str(FROZEN), "--symbol", "ICE", "--force")
    assert forced.code == 0, forced.err
    assert f"freeze authority {ISSUER}" in forced.out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nope", "--symbol", "X"], "'nope' is not a Solana address"),
        ([str(Keypair().pubkey()), "--symbol", "X"], "does not exist on sim"),
        ([str(ISSUER), "--symbol", "X"], "does not exist on sim"),
        (["JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", "--symbol", "J2"], "already in the token"),
        ([str(PLAIN), "--symbol", "JUP"], "JUP is already in the token list"),
        ([str(PLAIN), "--symbol", "no way"], "letters and digits"),
        ([str(PLAIN), "--symbol", "X", "--pool", "../x?y=1"], "--pool '../x?y=1' is not a Solana"),
    ],
)
def test_what_cannot_be_added_is_one_line(
    run: Run, world: Path, args: list[str], says: str
) -> None:
    done = run("tokens", "add", *args)
    assert done.code == 2, done.out + done.err
    assert done.err.count("\n") == 1, done.err
    assert says in done.err
    assert not world.exists()


def test_a_wallet_is_not_a_mint(run: Run, world: Path) -> None:
    cfg = Settings(data_dir=world.parent)
    wallet = SimNetwork.load(
        cfg.sim_state_path, tokens=list(cfg.token_map().values()), clock=ManualClock(NOW),
        writable=False,
    ).wallet.pubkey()  # fmt: skip
    done = run("tokens", "add", str(wallet), "--symbol", "W")
    assert done.code == 2
    assert "it is not a token mint (its owner is 11111111111111111111111111111111)" in done.err


def test_without_a_sim_world_there_is_no_chain_to_read(run: Run, data_dir: Path) -> None:
    done = run("tokens", "add", str(PLAIN), "--symbol", "X")
    assert done.code == 2
    assert "cannot read the mint: no sim world yet" in done.err


def test_a_broken_tokens_file_is_one_line(run: Run, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "tokens.json").write_text("{", encoding="utf-8")
    done = run("tokens", "list")
    assert done.code == 2, done.out + done.err
    assert done.err.count("\n") == 1, done.err
    assert "tokens.json cannot be read" in done.err
    assert "fix it or delete it" in done.err
