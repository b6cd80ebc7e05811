"""The `Chain` contract, run against `LiteSvmChain` and against `RpcChain` → sim RPC server.

Balances are checked to the lamport and the atom, fees included, so the two adapters cannot
drift apart (and neither can drift from the runtime) without a test failing.
"""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain import builders
from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.port import (
    NATIVE_MINT,
    SYSTEM_PROGRAM_ID,
    AccountInfo,
    Chain,
    ChainUnavailableError,
    SendError,
)
from solbot.chain.retrying import RetryingChain
from solbot.http_retry import RetryPolicy
from solbot.sim.ledger import FINALITY_SLOTS, SLOT_SECONDS, new_keypair_from_seed

from .support import (
    ALICE_LAMPORTS,
    ALICE_TOKENS,
    ATA_RENT,
    BOB_LAMPORTS,
    EXPIRY_SECONDS,
    SIGNATURE_FEE,
    World,
    signed,
    sol_transfer,
    token_transfer,
)

INSUFFICIENT_TOKENS = '{"InstructionError":[1,{"Custom":1}]}'  # SPL Token error 1


async def test_balances_of_the_world(chain: Chain, world: World) -> None:
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS
    assert await chain.balance(world.bob.pubkey()) == BOB_LAMPORTS
    assert await chain.token_balance(world.alice.pubkey(), world.mint) == ALICE_TOKENS
    assert await chain.token_balance(world.bob.pubkey(), world.mint) == 0  # no token account
    assert (
        await chain.balance(builders.associated_token_address(world.bob.pubkey(), world.mint)) == 0
    )


async def test_blockhash_and_block_height_follow_the_clock(chain: Chain, world: World) -> None:
    blockhash, last_valid = await chain.latest_blockhash()
    height = await chain.block_height()
    assert last_valid == height + 150
    world.clock.advance(10 * SLOT_SECONDS)
    later_hash, later_valid = await chain.latest_blockhash()
    assert await chain.block_height() == height + 10
    assert later_hash != blockhash
    assert later_valid == last_valid + 10


async def test_sol_transfer_lands_with_exact_balances(chain: Chain, world: World) -> None:
    tx = await signed(chain, world.alice, sol_transfer(world, 123_456_789))
    signature = await chain.send(tx)
    assert signature == tx.signatures[0]
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - 123_456_789 - SIGNATURE_FEE
    assert await chain.balance(world.bob.pubkey()) == BOB_LAMPORTS + 123_456_789
    [status] = await chain.statuses([signature])
    assert status is not None
    assert status.ok
    assert status.err is None
    assert status.confirmation == "confirmed"
    assert status.slot == world.ledger.slot


async def test_priority_fee_is_price_times_limit(chain: Chain, world: World) -> None:
    instructions = [
        builders.compute_unit_limit(10_000),
        builders.compute_unit_price(1_500_000),  # micro-lamports per unit
        *sol_transfer(world, 1_000),
    ]
    await chain.send(await signed(chain, world.alice, instructions))
    priority = 10_000 * 1_500_000 // 1_000_000
    assert await chain.balance(world.alice.pubkey()) == (
        ALICE_LAMPORTS - 1_000 - SIGNATURE_FEE - priority
    )


async def test_spl_transfer_checked_creates_the_account_and_moves_exact_atoms(
    chain: Chain, world: World
) -> None:
    amount = 250_000_123
    tx = await signed(chain, world.alice, token_transfer(world, amount))
    signature = await chain.send(tx)
    assert await chain.token_balance(world.alice.pubkey(), world.mint) == ALICE_TOKENS - amount
    assert await chain.token_balance(world.bob.pubkey(), world.mint) == amount
    # Alice paid the fee and the rent of Bob's new token account; Bob paid nothing.
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - SIGNATURE_FEE - ATA_RENT
    assert await chain.balance(world.bob.pubkey()) == BOB_LAMPORTS
    ata = builders.associated_token_address(world.bob.pubkey(), world.mint)
    assert await chain.balance(ata) == ATA_RENT
    [status] = await chain.statuses([signature])
    assert status is not None
    assert status.ok

    # The idempotent create does not fail when the account exists: a second transfer works.
    tx = await signed(chain, world.alice, token_transfer(world, 1))
    await chain.send(tx)
    assert await chain.token_balance(world.bob.pubkey(), world.mint) == amount + 1


async def test_statuses_unknown_mixed_and_finalized(chain: Chain, world: World) -> None:
    tx = await signed(chain, world.alice, sol_transfer(world, 5_000_000))
    signature = await chain.send(tx)
    unknown = Signature.new_unique()
    first, missing = await chain.statuses([signature, unknown])
    assert missing is None
    assert first is not None
    assert first.confirmation == "confirmed"
    world.clock.advance((FINALITY_SLOTS + 1) * SLOT_SECONDS)
    [later] = await chain.statuses([signature])
    assert later is not None
    assert later.confirmation == "finalized"
    assert later.slot == first.slot
    assert await chain.statuses([]) == []


async def test_resent_identical_transaction_is_not_executed_twice(
    chain: Chain, world: World
) -> None:
    tx = await signed(chain, world.alice, sol_transfer(world, 7_000_000))
    await chain.send(tx)
    with pytest.raises(SendError) as refused:
        await chain.send(tx)
    assert refused.value.reason == "AlreadyProcessed"
    world.clock.advance(3 * SLOT_SECONDS)  # still within the window, later blocks
    with pytest.raises(SendError):
        await chain.send(tx)
    world.clock.advance(EXPIRY_SECONDS)  # expired too: still reported as processed
    with pytest.raises(SendError, match="AlreadyProcessed"):
        await chain.send(tx)
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - 7_000_000 - SIGNATURE_FEE
    assert await chain.balance(world.bob.pubkey()) == BOB_LAMPORTS + 7_000_000


async def test_blockhash_is_valid_for_150_blocks_then_refused(chain: Chain, world: World) -> None:
    early = await signed(chain, world.alice, sol_transfer(world, 1_000))
    late = await signed(chain, world.alice, sol_transfer(world, 2_000))
    world.clock.advance(149 * SLOT_SECONDS)
    await chain.send(early)  # 149 blocks later: still inside the window
    world.clock.advance(EXPIRY_SECONDS - 149 * SLOT_SECONDS)
    with pytest.raises(SendError) as refused:
        await chain.send(late)
    assert refused.value.reason == "BlockhashNotFound"
    [status] = await chain.statuses([late.signatures[0]])
    assert status is None
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - 1_000 - SIGNATURE_FEE


async def test_failing_program_instruction_is_sent_fails_and_pays_its_fee(
    chain: Chain, world: World
) -> None:
    tx = await signed(chain, world.alice, token_transfer(world, ALICE_TOKENS + 1))
    signature = await chain.send(tx)  # sent: the runtime executed it
    [status] = await chain.statuses([signature])
    assert status is not None
    assert not status.ok
    assert status.err == INSUFFICIENT_TOKENS
    # The fee is charged; the token account created by instruction 0 is rolled back with the rest.
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - SIGNATURE_FEE
    assert await chain.token_balance(world.alice.pubkey(), world.mint) == ALICE_TOKENS
    assert await chain.token_balance(world.bob.pubkey(), world.mint) == 0


async def test_leaving_a_new_account_below_rent_exemption_fails_and_pays(
    chain: Chain, world: World
) -> None:
    newcomer = new_keypair_from_seed(b"chain tests: an account that does not exist yet")
    pay = [builders.sol_transfer(world.alice.pubkey(), newcomer.pubkey(), 1_000)]
    signature = await chain.send(await signed(chain, world.alice, pay))
    [status] = await chain.statuses([signature])
    assert status is not None
    assert status.err == '{"InsufficientFundsForRent":{"account_index":1}}'
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS - SIGNATURE_FEE
    assert await chain.balance(newcomer.pubkey()) == 0


async def test_unsigned_or_unfunded_transactions_are_refused_for_free(
    chain: Chain, world: World
) -> None:
    stranger = new_keypair_from_seed(b"chain tests: a stranger with no lamports")
    pay = [builders.sol_transfer(stranger.pubkey(), world.bob.pubkey(), 1)]
    tx = await signed(chain, stranger, pay)
    with pytest.raises(SendError) as refused:
        await chain.send(tx)
    assert refused.value.reason == "AccountNotFound"
    assert await chain.statuses([tx.signatures[0]]) == [None]

    genuine = await signed(chain, world.alice, sol_transfer(world, 1))
    forged = VersionedTransaction.populate(genuine.message, [Signature.new_unique()])
    with pytest.raises(SendError) as refused:
        await chain.send(forged)
    assert refused.value.reason == "SignatureFailure"
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS


async def test_simulate_reports_without_changing_anything(chain: Chain, world: World) -> None:
    good = await signed(chain, world.alice, token_transfer(world, 10))
    simulation = await chain.simulate(good)
    assert simulation.err is None
    assert any(
        "Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA success" in line
        for line in simulation.logs
    )
    assert simulation.units is not None
    assert simulation.units > 0

    bad = await signed(chain, world.alice, token_transfer(world, ALICE_TOKENS + 1))
    failed = await chain.simulate(bad)
    assert failed.err == INSUFFICIENT_TOKENS
    assert "Program log: Error: insufficient funds" in failed.logs

    assert await chain.statuses([good.signatures[0], bad.signatures[0]]) == [None, None]
    assert await chain.balance(world.alice.pubkey()) == ALICE_LAMPORTS
    assert await chain.token_balance(world.bob.pubkey(), world.mint) == 0

    world.clock.advance(EXPIRY_SECONDS)
    expired = await chain.simulate(good)
    assert expired.err == "BlockhashNotFound"


async def test_account_says_who_owns_it_and_whether_it_is_a_program(
    chain: Chain, world: World
) -> None:
    """What a withdrawal's destination check reads: a wallet is system-owned with no data; a
    mint, a token account and a program are not; an address nobody funded has no account."""
    wallet = await chain.account(world.alice.pubkey())
    assert wallet == AccountInfo(ALICE_LAMPORTS, SYSTEM_PROGRAM_ID, False, 0)
    mint = await chain.account(world.mint)
    assert mint is not None
    assert (mint.owner, mint.executable, mint.space) == (builders.TOKEN_PROGRAM_ID, False, 82)
    ata = builders.associated_token_address(world.alice.pubkey(), world.mint)
    token_account = await chain.account(ata)
    assert token_account is not None
    assert (token_account.owner, token_account.space) == (builders.TOKEN_PROGRAM_ID, 165)
    assert token_account.lamports == ATA_RENT
    program = await chain.account(builders.TOKEN_PROGRAM_ID)
    assert program is not None
    assert program.executable
    native = await chain.account(NATIVE_MINT)  # wrapped SOL's mint exists on every cluster
    assert native is not None
    assert (native.owner, native.space) == (builders.TOKEN_PROGRAM_ID, 82)
    assert await chain.account(new_keypair_from_seed(b"chain tests: nobody").pubkey()) is None


async def test_retrying_chain_reads_accounts_through_a_node_that_fails_once(world: World) -> None:
    """`RetryingChain` (every RPC chain of the loop) passes `account` through, retried."""

    class FailsOnce:
        def __init__(self) -> None:
            self.inner = LiteSvmChain(world.ledger, world.clock)
            self.calls = 0

        async def account(self, address: Pubkey) -> AccountInfo | None:
            self.calls += 1
            if self.calls == 1:
                raise ChainUnavailableError("node is behind")
            return await self.inner.account(address)

    flaky = FailsOnce()
    policy = RetryPolicy(max_attempts=6, backoff=0.1, max_backoff=8.0)
    chain = RetryingChain(flaky, world.clock, policy)  # type: ignore[arg-type]
    wallet = await chain.account(world.bob.pubkey())
    assert wallet == AccountInfo(BOB_LAMPORTS, SYSTEM_PROGRAM_ID, False, 0)
    assert (flaky.calls, chain.retries) == (2, 1)
    assert not chain.failing  # it answered in the end


async def test_a_retrying_chain_knows_the_node_is_failing(world: World) -> None:
    """Failing from the first failure until a call succeeds (a stop then gives the closing
    summary less time: the operator is waiting)."""

    class Down:
        up = False

        async def balance(self, owner: Pubkey) -> int:
            if not Down.up:
                raise ChainUnavailableError("503")
            return 1

    policy = RetryPolicy(max_attempts=2, backoff=0.01, max_backoff=0.01)
    chain = RetryingChain(Down(), world.clock, policy)  # type: ignore[arg-type]
    assert not chain.failing
    with pytest.raises(ChainUnavailableError):
        await chain.balance(world.bob.pubkey())
    assert chain.failing
    Down.up = True
    assert await chain.balance(world.bob.pubkey()) == 1
    assert not chain.failing
