"""`solbot cleanup` through the real CLI on the embedded sim's saved world, on both databases:
the empty token accounts of a user's wallet are closed (the rent back), one that holds tokens
is left, `--dry-run` sends nothing, `--json` says what happened with amounts as strings."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

from solders.pubkey import Pubkey

from holders import holding_run_lock
from solbot.chain.builders import SIGNATURE_FEE, associated_token_address
from solbot.clock import ManualClock
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.sim.network import SimNetwork

from .support import NOW, Run
from .test_reports_cli import TOKENS, fund_in_sim
from .test_users_cli import add

SOL = 1_000_000_000


def world(data_dir: Path) -> SimNetwork:
    return SimNetwork.load(
        data_dir / "sim" / "sim-state.json",
        tokens=list(TOKENS.values()),
        clock=ManualClock(NOW),
        writable=False,
    )


def leave_accounts(data_dir: Path, address: str) -> None:
    """`address` as after trading: SOL and USDC, an empty JUP and BONK account, 5 WIF."""
    fund_in_sim(data_dir, address, SOL, 10**6)
    path = data_dir / "sim" / "sim-state.json"
    network = SimNetwork.load(path, tokens=list(TOKENS.values()), clock=ManualClock(NOW))
    owner = Pubkey.from_string(address)
    for symbol, atoms in (("JUP", 0), ("BONK", 0), ("WIF", 5)):
        network.ledger.set_token_balance(owner, Pubkey.from_string(TOKENS[symbol].mint), atoms)
    network.save(path)
    network.close()


def held(network: SimNetwork, address: str, symbol: str) -> object:
    owner, mint = Pubkey.from_string(address), Pubkey.from_string(TOKENS[symbol].mint)
    return network.ledger.account(associated_token_address(owner, mint))


def test_cleanup_closes_the_empty_accounts_and_leaves_the_others(cli: Run, data_dir: Path) -> None:
    address, _ = add(cli, "alice", "--no-show-key")
    leave_accounts(data_dir, address)

    with holding_run_lock(os.environ["DATABASE_URL"]):  # a bot runs: a dry run only reads
        dry = cli("cleanup", "-u", "alice", "--dry-run")
        assert dry.code == 0, dry.err
        assert "would close JUP, BONK" in dry.out
        refused = cli("cleanup", "-u", "alice")  # closing moves money: not beside a bot
        assert refused.code == 2
        assert "in use by solbot run" in refused.error_line()
    assert held(world(data_dir), address, "JUP") is not None

    done = cli("cleanup", "-u", "alice", "--json")
    assert done.code == 0, done.err
    (wallet,) = json.loads(done.out)["wallets"]
    assert wallet["user"] == "alice"
    assert wallet["closed"] == ["JUP", "BONK"]
    assert wallet["failed"] == {}
    reclaimed = 2 * TOKEN_ACCOUNT_RENT - SIGNATURE_FEE
    assert wallet["reclaimed_lamports"] == str(reclaimed)
    assert Decimal(wallet["reclaimed"]) == Decimal(reclaimed).scaleb(-9)
    after = world(data_dir)
    assert held(after, address, "JUP") is None
    assert held(after, address, "BONK") is None
    assert held(after, address, "WIF") is not None  # it holds tokens
    assert after.ledger.balance(Pubkey.from_string(address)) == SOL + reclaimed

    again = cli("cleanup", "--all")
    assert again.code == 0, again.err
    assert "alice: no empty token accounts" in again.out


def test_cleanup_needs_a_user_or_all(cli: Run) -> None:
    assert "give -u NAME or --all" in cli("cleanup").error_line()
    assert "give -u NAME or --all" in cli("cleanup", "-u", "alice", "--all").error_line()
