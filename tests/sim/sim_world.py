"""A small sim world for the market tests: clock, ledger, seeded prices, a funded maker, a user."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.domain import TokenInfo
from solbot.sim.ledger import SimLedger, new_keypair_from_seed
from solbot.sim.maker import SimMaker
from solbot.sim.maker_types import MakerConfig
from solbot.sim.prices import SimPrices

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TOKENS: tuple[TokenInfo, ...] = tuple(t.to_domain() for t in DEFAULT_TOKENS)
MINTS = {t.symbol: t.mint for t in TOKENS}
DECIMALS = {t.symbol: t.decimals for t in TOKENS}
LIQUIDITY = {t.symbol: t.liquidity_usd for t in TOKENS}
SOL, USDC, JUP, BONK = MINTS["SOL"], MINTS["USDC"], MINTS["JUP"], MINTS["BONK"]
USER_SOL = 20 * 10**9
USER_USDC = 5_000 * 10**6
USER_JUP = 3_000 * 10**6


@dataclass
class World:
    clock: ManualClock
    ledger: SimLedger
    prices: SimPrices
    maker: SimMaker
    user: Keypair

    def balances(self, owner: Pubkey) -> dict[str, int]:
        """Lamports and every token's atoms held by `owner`."""
        out = {"lamports": self.ledger.balance(owner)}
        for token in TOKENS:
            if token.symbol != "SOL":
                out[token.symbol] = self.ledger.token_balance(owner, Pubkey.from_string(token.mint))
        return out

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ledger.advance_to(self.clock.now())


def make_world(seed: int = 11, config: MakerConfig | None = None, user_jup: bool = True) -> World:
    """A funded maker and a user holding SOL, USDC and (unless told not to) JUP, 10 minutes
    into a seeded price path."""
    clock = ManualClock(T0)
    ledger = SimLedger(T0)
    prices = SimPrices.for_tokens(TOKENS, seed, T0, clock=clock)
    maker = SimMaker(ledger, prices, TOKENS, clock, config=config)
    maker.fund()
    user = new_keypair_from_seed(b"test user wallet")
    ledger.airdrop(user.pubkey(), USER_SOL)
    ledger.set_token_balance(user.pubkey(), Pubkey.from_string(USDC), USER_USDC)
    if user_jup:
        ledger.set_token_balance(user.pubkey(), Pubkey.from_string(JUP), USER_JUP)
    world = World(clock, ledger, prices, maker, user)
    world.advance(600.0)
    return world


def sign_own_slot(tx: VersionedTransaction, signer: Keypair) -> VersionedTransaction:
    """What a wallet does with a transaction someone else co-signs: sign the versioned message
    bytes, put the signature in its own slot, keep every other slot as it is."""
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    signatures = list(tx.signatures)
    signatures[signers.index(signer.pubkey())] = signer.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def from_b64(text: str) -> VersionedTransaction:
    return VersionedTransaction.from_bytes(base64.b64decode(text))
