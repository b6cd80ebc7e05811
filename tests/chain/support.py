"""A small seeded sim world shared by the chain tests: two wallets, a token, a manual clock."""

from __future__ import annotations

from dataclasses import dataclass

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.chain import builders
from solbot.chain.port import Chain
from solbot.clock import ManualClock
from solbot.sim.ledger import SLOT_SECONDS, VALIDITY_BLOCKS, SimLedger, new_keypair_from_seed

START = 1_750_000_000.0
SOL = 1_000_000_000
ALICE_LAMPORTS = 10 * SOL
BOB_LAMPORTS = 1 * SOL
DECIMALS = 6
ALICE_TOKENS = 1_000 * 10**DECIMALS
SIGNATURE_FEE = 5_000
ATA_RENT = 2_039_280  # rent-exempt minimum of a 165-byte token account
EXPIRY_SECONDS = (VALIDITY_BLOCKS + 2) * SLOT_SECONDS  # past the 150-block validity window


@dataclass
class World:
    clock: ManualClock
    ledger: SimLedger
    alice: Keypair
    bob: Keypair
    mint: Pubkey


def make_world() -> World:
    clock = ManualClock(START)
    ledger = SimLedger(clock.now())
    alice = new_keypair_from_seed(b"chain tests: alice")
    bob = new_keypair_from_seed(b"chain tests: bob")
    authority = new_keypair_from_seed(b"chain tests: mint authority")
    mint = new_keypair_from_seed(b"chain tests: mint").pubkey()
    ledger.airdrop(alice.pubkey(), ALICE_LAMPORTS)
    ledger.airdrop(bob.pubkey(), BOB_LAMPORTS)
    ledger.create_mint(mint, DECIMALS, authority.pubkey())
    ledger.set_token_balance(alice.pubkey(), mint, ALICE_TOKENS)
    return World(clock, ledger, alice, bob, mint)


async def signed(
    chain: Chain, payer: Keypair, instructions: list[Instruction], *others: Keypair
) -> VersionedTransaction:
    """A transaction over the chain's latest blockhash, signed by the payer (and `others`)."""
    blockhash, _ = await chain.latest_blockhash()
    return builders.build_transaction(payer.pubkey(), instructions, blockhash, [payer, *others])


def sol_transfer(world: World, lamports: int) -> list[Instruction]:
    return [builders.sol_transfer(world.alice.pubkey(), world.bob.pubkey(), lamports)]


def token_transfer(world: World, amount: int) -> list[Instruction]:
    """Alice → Bob, creating Bob's token account on the way (idempotent)."""
    alice, bob = world.alice.pubkey(), world.bob.pubkey()
    return [
        builders.create_associated_token_account(alice, bob, world.mint),
        builders.token_transfer_checked(alice, bob, world.mint, amount, DECIMALS),
    ]
