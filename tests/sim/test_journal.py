"""The sim never rolls back under the database: every change is journaled before it is reported.

Seen before the journal: the embedded sim saved its world every 300 simulated seconds while the
bot's database committed each fill at once, so a kill in between rolled the chain back under
committed fills."""

from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.chain.builders import (
    build_transaction,
    create_associated_token_account,
    sol_transfer,
    token_transfer_checked,
)
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.sim.journal import journal_path, read_journal
from solbot.sim.network import SimNetwork

T0 = 1_767_225_600.0
TOKENS = [t.to_domain() for t in DEFAULT_TOKENS]
USDC = Pubkey.from_string(next(t.mint for t in TOKENS if t.symbol == "USDC"))


def world(path: Path) -> tuple[SimNetwork, ManualClock]:
    clock = ManualClock(T0)
    network = SimNetwork.create(
        tokens=TOKENS, clock=clock, seed=3, history_seconds=600, wallet_sol=2, wallet_usdc=10
    )
    network.save(path)  # the first save starts the journal, as `solbot run` does
    return network, clock


def transfer(network: SimNetwork, clock: ManualClock, to: Pubkey, lamports: int) -> str:
    clock.advance(5)
    network.ledger.advance_to(clock.now())
    payer = network.wallet
    blockhash, _ = network.ledger.latest_blockhash()
    tx = build_transaction(
        payer.pubkey(), [sol_transfer(payer.pubkey(), to, lamports)], blockhash, [payer]
    )
    outcome = network.ledger.send(tx)
    assert outcome.ok
    return str(tx.signatures[0])


def reopen(path: Path) -> SimNetwork:
    saved = SimNetwork.saved_time(path)
    assert saved is not None
    return SimNetwork.load(path, tokens=TOKENS, clock=ManualClock(saved), writable=False)


def test_a_killed_world_keeps_every_reported_change(tmp_path: Path) -> None:
    """No save after the changes (as after SIGKILL): the journal brings them back."""
    path = tmp_path / "sim-state.json"
    network, clock = world(path)
    friend = Keypair().pubkey()
    signatures = [transfer(network, clock, friend, 1_000_000 * (i + 1)) for i in range(3)]
    network.ledger.set_token_balance(friend, USDC, 42)  # a faucet deposit
    now = clock.now()
    # ... killed here: no save.
    again = reopen(path)
    assert again.ledger.balance(friend) == 6_000_000
    assert again.ledger.token_balance(friend, USDC) == 42
    assert again.ledger.balance(network.wallet.pubkey()) == network.ledger.balance(
        network.wallet.pubkey()
    )
    for signature in signatures:  # the statuses too: recovery asks about signatures
        status = again.ledger.status(Signature.from_string(signature))
        assert status is not None
        assert status.err is None
    assert SimNetwork.saved_time(path) == now


def test_a_save_folds_the_journal_in_and_replaying_it_again_changes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sim-state.json"
    network, clock = world(path)
    friend = Keypair().pubkey()
    transfer(network, clock, friend, 5_000_000)
    journal = journal_path(path).read_bytes()
    assert list(read_journal(journal_path(path)))
    network.save(path)
    assert journal_path(path).read_bytes() == b""  # folded into the state file
    # A crash between writing the state file and emptying the journal: replay it on top.
    journal_path(path).write_bytes(journal)
    again = reopen(path)
    assert again.ledger.balance(friend) == 5_000_000
    assert again.ledger.balance(network.wallet.pubkey()) == network.ledger.balance(
        network.wallet.pubkey()
    )


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    """A power cut in the middle of a write: nobody was told of that change."""
    path = tmp_path / "sim-state.json"
    network, clock = world(path)
    friend = Keypair().pubkey()
    transfer(network, clock, friend, 1_000_000)
    transfer(network, clock, friend, 2_000_000)
    data = journal_path(path).read_bytes()
    journal_path(path).write_bytes(data[:-7])
    assert reopen(path).ledger.balance(friend) == 1_000_000


def test_a_reader_leaves_the_journal_alone(tmp_path: Path) -> None:
    path = tmp_path / "sim-state.json"
    network, clock = world(path)
    friend = Keypair().pubkey()
    transfer(network, clock, friend, 1_000_000)
    before = journal_path(path).read_bytes()
    reader = reopen(path)
    reader.ledger.airdrop(Keypair().pubkey(), 5)  # a reader's own change is not journaled
    assert journal_path(path).read_bytes() == before


def test_the_journal_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sim-state.json"
    world(path)
    assert journal_path(path).stat().st_mode & 0o777 == 0o600


def test_a_reopened_world_records_what_its_transactions_moved(tmp_path: Path) -> None:
    """A world loaded from its file trades on: a token transfer after the reopening lands and
    its token balances are recorded (what a fill is read from)."""
    path = tmp_path / "sim-state.json"
    network, clock = world(path)
    network.save(path)
    again = SimNetwork.load(path, tokens=TOKENS, clock=clock, writable=False)
    friend = Keypair().pubkey()
    payer = again.wallet
    clock.advance(5)
    again.ledger.advance_to(clock.now())
    blockhash, _ = again.ledger.latest_blockhash()
    moves = [
        create_associated_token_account(payer.pubkey(), friend, USDC),
        token_transfer_checked(payer.pubkey(), friend, USDC, 5, 6),
    ]
    tx = build_transaction(payer.pubkey(), moves, blockhash, [payer])

    assert again.ledger.send(tx).ok
    record = again.ledger.transaction(tx.signatures[0])
    assert record is not None
    got = {t.holding.owner: t.holding.amount for t in record.post_tokens}
    assert got[friend] == 5
