"""The sim market maker: firm quotes priced by the backtester's cost model, settled on LiteSVM.

**One pricing function.** A quote is `solbot.execution.costs` applied exactly as the backtest
kernel applies it, so the sim and the backtester cannot drift apart:

- buy (quote asset in, token out), spending `budget` quote units:
  `fill = buy_price(market, budget / (1 + fee), liquidity, half_spread)`,
  `out = floor(buy_quantity(budget, fill, fee) * 10**token_decimals)`;
- sell (token in, quote asset out), `qty` tokens:
  `fill = sell_price(market, qty * market, liquidity, half_spread)`,
  `out = floor(sale_proceeds(qty, fill, fee) * 10**quote_decimals)`;

where `market` is the token's USD price over the quote asset's, `liquidity` is the token's pool
depth `liquidity_usd` converted into the quote asset at its current price, `half_spread` is half
of `spread_bps` (as a fraction: the slippage argument) and `fee` is `fee_bps` as a fraction. The
output is floored to whole atoms: the maker never gives away a fraction of an atom.

**Pairs.** Every configured token trades against USDC, and every token other than USDC against
SOL (the quote asset is USDC when either side is USDC, else SOL). SOL moves as native lamports
with a System transfer, never as wrapped SOL; tokens move with `transfer_checked`. A missing
associated token account of the taker's output is created idempotently in the same transaction,
paid by the transaction's fee payer.

**One atomic transaction, two layouts** (both `VersionedTransaction` with a `MessageV0`):

- `v2` (Swap API v2 `/order` + `/execute`, Jupiter's RFQ routing): the maker is the fee payer
  (account 0) and signs only at execute, after checking the taker's signature. Until then every
  signature slot is empty; the transaction id is the maker's signature, which the taker learns
  from `/execute`.
- `v1` (legacy `/quote` + `/swap`): the taker is the fee payer (account 0); the maker co-signs
  when building, the taker signs last and sends it through any RPC.

A quote is firm until `quote_ttl_seconds` of sim time have passed (checked at `/execute`; a v1
transaction is further bounded by its blockhash's ~150-block window). The maker's inventory is
funded once (`fund`) and is afterwards whatever the chain says: a quote the maker cannot fill
from its balances is refused as no route.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from solbot.chain.builders import SIGNATURE_FEE, associated_token_address
from solbot.clock import Clock
from solbot.config import QUOTE_ASSETS
from solbot.domain import TokenInfo
from solbot.execution.costs import buy_price, buy_quantity, sale_proceeds, sell_price
from solbot.sim.ledger import SimLedger, new_keypair_from_seed
from solbot.sim.ledger_outcomes import RejectedError
from solbot.sim.maker_types import (
    CODE_FAILED_TO_LAND,
    CODE_NOT_FULLY_SIGNED,
    CODE_QUOTE_EXPIRED,
    CODE_SUCCESS,
    CODE_SWAP_REJECTED,
    ExecuteOutcome,
    InvalidRequestError,
    InvalidTransactionError,
    Layout,
    MakerConfig,
    MakerError,
    MessageMismatchError,
    NoRouteError,
    OrderNotFoundError,
    Pricing,
    Quote,
    signer_index,
)
from solbot.sim.prices import PriceSource

__all__ = ["NATIVE_SOL_MINT", "TOKEN_ACCOUNT_RENT", "TOKEN_ACCOUNT_SIZE", "SimMaker"]

NATIVE_SOL_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
TOKEN_ACCOUNT_SIZE = 165
TOKEN_ACCOUNT_RENT = 2_039_280  # lamports to make a 165-byte token account rent-exempt
_U64_MAX = 2**64 - 1
_SOL_RESERVE = 1_000_000_000  # lamports the maker keeps for fees and rent, never sells
_MINT_AUTHORITY = new_keypair_from_seed(b"solbot-sim-mint-authority").pubkey()

# The runtime's error text names a program's own error as `InstructionErrorCustom(1)` or
# `{"Custom":1}` depending on how it was rendered.
_CUSTOM_ERROR = re.compile(r"Custom\W*(\d+)")


@dataclass
class _Order:
    quote: Quote
    outcome: ExecuteOutcome | None = field(default=None)
    landing: asyncio.Future[ExecuteOutcome] | None = field(default=None)  # being executed


class SimMaker:
    """Quotes, builds and settles swaps against its own inventory on the sim ledger.

    Not thread-safe, like the ledger it drives: one event loop owns both. Every call first
    brings the ledger's blocks up to the clock (`sync`).
    """

    def __init__(
        self,
        ledger: SimLedger,
        prices: PriceSource,
        tokens: Sequence[TokenInfo],
        clock: Clock,
        *,
        keypair: Keypair | None = None,
        config: MakerConfig | None = None,
    ) -> None:
        self.ledger = ledger
        self.prices = prices
        self.clock = clock
        self.config = config or MakerConfig()
        self._keypair = keypair or new_keypair_from_seed(b"solbot-sim-market-maker")
        self._pubkey = self._keypair.pubkey()  # derived once: solders derives it on each call
        self.tokens: dict[Pubkey, TokenInfo] = {}
        for token in tokens:
            self.tokens[Pubkey.from_string(token.mint)] = token
        self._orders: dict[str, _Order] = {}
        self._issued = 0

    @property
    def pubkey(self) -> Pubkey:
        return self._pubkey

    def __repr__(self) -> str:  # never the keypair
        return f"SimMaker(pubkey={self.pubkey}, tokens={len(self.tokens)})"

    def sync(self) -> float:
        """Bring the ledger's blocks up to the clock; returns the time."""
        now = self.clock.now()
        self.ledger.advance_to(now)
        return now

    def token(self, mint: Pubkey | str) -> TokenInfo:
        """The configured token with this mint; `NoRouteError` for any other."""
        key = _pubkey(mint, "mint")
        token = self.tokens.get(key)
        if token is None:
            raise NoRouteError(f"token {key} is not tradable here")
        return token

    # ------------------------------------------------------------------ inventory
    def fund(self) -> None:
        """Create missing mints at their real addresses and top the maker up to `funding_usd`
        of every asset at current prices (SOL as lamports, the rest as token atoms)."""
        now = self.sync()
        for mint, token in self.tokens.items():
            price = self.prices.price(token.symbol, now)
            target = min(math.floor(self.config.funding_usd / price * 10**token.decimals), 2**62)
            if mint == NATIVE_SOL_MINT:
                held = self.ledger.balance(self.pubkey)
                if held < target:
                    self.ledger.airdrop(self.pubkey, target - held)
                continue
            if self.ledger.account(mint) is None:
                self.ledger.create_mint(mint, token.decimals, _MINT_AUTHORITY)
            if self.ledger.token_balance(self.pubkey, mint) < target:
                self.ledger.set_token_balance(self.pubkey, mint, target)

    def available(self, mint: Pubkey) -> int:
        """What the maker can pay out of `mint` now, per the chain."""
        if mint == NATIVE_SOL_MINT:
            return max(0, self.ledger.balance(self.pubkey) - _SOL_RESERVE)
        return self.ledger.token_balance(self.pubkey, mint)

    def taker_holds(self, pricing: Pricing, taker: Pubkey) -> bool:
        """True when `taker` holds the swap's input now (lamports or token atoms)."""
        if pricing.input_mint == NATIVE_SOL_MINT:
            return self.ledger.balance(taker) >= pricing.in_amount
        return self.ledger.token_balance(taker, pricing.input_mint) >= pricing.in_amount

    # ------------------------------------------------------------------ pricing
    def price_swap(
        self, input_mint: Pubkey | str, output_mint: Pubkey | str, amount: int
    ) -> Pricing:
        """Price swapping `amount` atoms of `input_mint` into `output_mint` now (ExactIn)."""
        now = self.sync()
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= _U64_MAX:
            raise InvalidRequestError(f"amount must be a positive u64 of atoms, got {amount!r}")
        t_in, t_out = self.token(input_mint), self.token(output_mint)
        if t_in.mint == t_out.mint:
            raise InvalidRequestError("inputMint and outputMint must differ")
        token, quote, side = _pair(t_in, t_out)
        p_token, p_quote = self._usd(token, now), self._usd(quote, now)
        market = p_token / p_quote
        liquidity = token.liquidity_usd / p_quote
        fee, slip = self.config.fee, self.config.half_spread
        if side == "buy":
            budget = amount / 10**quote.decimals
            swap_value = budget / (1.0 + fee)
            fill = buy_price(market, swap_value, liquidity, slip)
            out = _floor_atoms(buy_quantity(budget, fill, fee), token.decimals)
            impact = buy_price(market, swap_value, liquidity, 0.0) / market - 1.0
            fee_amount = _floor_atoms(budget - swap_value, quote.decimals)
        else:
            qty = amount / 10**token.decimals
            fill = sell_price(market, qty * market, liquidity, slip)
            out = _floor_atoms(sale_proceeds(qty, fill, fee), quote.decimals)
            impact = 1.0 - sell_price(market, qty * market, liquidity, 0.0) / market
            fee_amount = _floor_atoms(qty * fill * fee, quote.decimals)
        if out <= 0:
            raise NoRouteError(f"amount {amount} is too small to fill")
        output_mint_key = Pubkey.from_string(t_out.mint)
        if out > self.available(output_mint_key):
            raise NoRouteError(f"not enough liquidity to pay {out} atoms of {t_out.symbol}")
        in_usd = amount / 10**t_in.decimals * self._usd(t_in, now)
        out_usd = out / 10**t_out.decimals * self._usd(t_out, now)
        return Pricing(
            input_mint=Pubkey.from_string(t_in.mint),
            output_mint=output_mint_key,
            in_amount=amount,
            out_amount=out,
            side=side,
            token=token.symbol,
            quote=quote.symbol,
            market_price=market,
            fill_price=fill,
            price_impact_pct=100.0 * impact,
            fee_amount=fee_amount,
            fee_mint=Pubkey.from_string(quote.mint),
            in_usd=in_usd,
            out_usd=out_usd,
            slot=self.ledger.slot,
            priced_at=now,
            expires_at=now + self.config.quote_ttl_seconds,
        )

    # ------------------------------------------------------------------ transactions
    def quote(
        self,
        input_mint: Pubkey | str,
        output_mint: Pubkey | str,
        amount_atoms: int,
        taker: Pubkey | str,
        layout: Layout,
    ) -> Quote:
        """Price a swap and build its transaction for `taker` (v2 orders await `execute`)."""
        return self.build(self.price_swap(input_mint, output_mint, amount_atoms), taker, layout)

    def build(self, pricing: Pricing, taker: Pubkey | str, layout: Layout) -> Quote:
        """The atomic swap transaction of `pricing` for `taker`, in `layout`."""
        if layout not in ("v1", "v2"):
            raise ValueError(f"layout must be 'v1' or 'v2', got {layout!r}")
        self.sync()
        user = _pubkey(taker, "taker")
        maker = self.pubkey
        if user == maker:
            raise InvalidRequestError("the taker cannot be the maker")
        payer = maker if layout == "v2" and not self.config.v2_taker_pays else user
        t_in, t_out = self.tokens[pricing.input_mint], self.tokens[pricing.output_mint]
        create: list[Instruction] = []
        moves: list[Instruction] = []
        rent = 0
        if pricing.input_mint == NATIVE_SOL_MINT:
            moves.append(_sol(user, maker, pricing.in_amount))
        else:
            if self._missing_ata(maker, pricing.input_mint):  # the maker pays for its own
                create.append(
                    create_idempotent_associated_token_account(maker, maker, pricing.input_mint)
                )
            moves.append(_spl(user, maker, pricing.input_mint, pricing.in_amount, t_in.decimals))
        if pricing.output_mint == NATIVE_SOL_MINT:
            moves.append(_sol(maker, user, pricing.out_amount))
        else:
            if self._missing_ata(user, pricing.output_mint):
                create.append(
                    create_idempotent_associated_token_account(payer, user, pricing.output_mint)
                )
                rent += TOKEN_ACCOUNT_RENT
            moves.append(_spl(maker, user, pricing.output_mint, pricing.out_amount, t_out.decimals))
        blockhash, last_valid = self.ledger.latest_blockhash()
        message = MessageV0.try_compile(payer, [*create, *moves], [], blockhash)
        signers = message.header.num_required_signatures
        signatures = [Signature.default()] * signers
        if layout == "v1":
            signatures[signer_index(message, maker)] = self._keypair.sign_message(
                to_bytes_versioned(message)
            )
        transaction = VersionedTransaction.populate(message, signatures)
        request_id, quote_id = self._ids(message, blockhash)
        quote = Quote(
            pricing=pricing,
            request_id=request_id,
            quote_id=quote_id,
            taker=user,
            maker=maker,
            layout=layout,
            transaction=transaction,
            last_valid_block_height=last_valid,
            fee_payer=payer,
            rent_lamports=rent,
            signature_fee_lamports=SIGNATURE_FEE * signers,
        )
        if layout == "v2":
            self._prune(self.clock.now())
            self._orders[request_id] = _Order(quote)
        return quote

    def order(self, request_id: str) -> Quote:
        """The open v2 order under `request_id`."""
        entry = self._orders.get(request_id)
        if entry is None:
            raise OrderNotFoundError("Order not found, it might have expired")
        return entry.quote

    async def execute(self, request_id: str, signed: VersionedTransaction) -> ExecuteOutcome:
        """Settle a v2 order: check the taker's signature, add the maker's, send it.

        Raises for what Jupiter answers with HTTP 400 (unknown request, unreadable transaction,
        changed message); returns a "Failed" outcome for the rest. A request that was already
        executed, or is being executed, answers its first outcome, whatever is posted.
        """
        now = self.sync()
        self._prune(now)
        entry = self._orders.get(request_id)
        if entry is None:
            raise OrderNotFoundError("Order not found, it might have expired")
        if entry.outcome is not None:
            return entry.outcome
        if entry.landing is not None:
            return await asyncio.shield(entry.landing)
        quote = entry.quote
        issued = quote.transaction.message
        expected = to_bytes_versioned(issued)
        try:
            got = to_bytes_versioned(signed.message)
        except (TypeError, ValueError) as exc:
            raise InvalidTransactionError(f"Invalid signed transaction: {exc}") from None
        if got != expected:
            raise MessageMismatchError("Invalid message bytes: the transaction was modified")
        if len(signed.signatures) != issued.header.num_required_signatures:
            raise InvalidTransactionError("Invalid signed transaction: wrong signature count")
        if now > quote.pricing.expires_at:
            entry.outcome = self._failed(quote, CODE_QUOTE_EXPIRED, "Quote expired")
            return entry.outcome
        # The taker's signature is checked by the runtime, which verifies every signature
        # before it executes anything (a second Ed25519 check here would double the cost).
        signatures = list(signed.signatures)
        signatures[signer_index(issued, self.pubkey)] = self._keypair.sign_message(expected)
        tx = VersionedTransaction.populate(issued, signatures)
        landing = entry.landing = asyncio.get_running_loop().create_future()
        try:
            outcome = await self._land(entry, tx)
        except BaseException as exc:  # a second post waiting on this one hears it too
            entry.landing = None
            if isinstance(exc, asyncio.CancelledError):
                landing.cancel()
            else:
                landing.set_exception(exc)
                landing.exception()  # retrieved: nobody else may be waiting
            raise
        landing.set_result(outcome)
        return outcome

    async def _land(self, entry: _Order, tx: VersionedTransaction) -> ExecuteOutcome:
        quote = entry.quote
        try:
            landed = await self.ledger.send_async(tx)
        except RejectedError as exc:
            if exc.reason == "SignatureFailure":  # ours is good: the taker's is not
                # Not remembered: the taker may still post a properly signed copy before expiry.
                entry.landing = None
                return self._failed(quote, CODE_NOT_FULLY_SIGNED, "Transaction not fully signed")
            entry.outcome = self._failed(quote, CODE_FAILED_TO_LAND, f"Failed to land: {exc}")
            return entry.outcome
        if landed.ok:
            entry.outcome = ExecuteOutcome(
                "Success",
                CODE_SUCCESS,
                None,
                landed.signature,
                landed.slot,
                quote.pricing.in_amount,
                quote.pricing.out_amount,
                quote.pricing,
            )
        else:
            code, error = _program_error(landed.err or "")
            entry.outcome = replace(
                self._failed(quote, code, error), signature=landed.signature, slot=landed.slot
            )
        return entry.outcome

    def land_own(self, instructions: Sequence[Instruction], *cosigners: Keypair) -> None:
        """Land a transaction of the maker's own (it pays; `cosigners` are new accounts it
        creates) now; `MakerError` if it does not succeed (the maker's own state is wrong)."""
        self.sync()
        blockhash, _ = self.ledger.latest_blockhash()
        message = MessageV0.try_compile(self.pubkey, list(instructions), [], blockhash)
        tx = VersionedTransaction(message, [self._keypair, *cosigners])
        try:
            landed = self.ledger.send(tx)
        except RejectedError as exc:
            raise MakerError(f"the maker's own transaction was refused: {exc.reason}") from None
        if not landed.ok:
            raise MakerError(f"the maker's own transaction failed: {landed.err}")

    # ------------------------------------------------------------------ internals
    def _usd(self, token: TokenInfo, now: float) -> float:
        """A token's USD price now; a token the price source cannot price has no route."""
        try:
            price = self.prices.price(token.symbol, now)
        except (KeyError, ValueError) as exc:
            raise NoRouteError(f"no price for {token.symbol}: {exc}") from None
        if not (math.isfinite(price) and price > 0):
            raise NoRouteError(f"no usable price for {token.symbol}: {price}")
        return price

    def _failed(self, quote: Quote, code: int, error: str) -> ExecuteOutcome:
        return ExecuteOutcome("Failed", code, error, None, None, None, None, quote.pricing)

    def _missing_ata(self, owner: Pubkey, mint: Pubkey) -> bool:
        return self.ledger.account(associated_token_address(owner, mint)) is None

    def _ids(self, message: MessageV0, blockhash: Hash) -> tuple[str, str]:
        """Request and quote ids: deterministic (tests, replays), unique per issued quote."""
        self._issued += 1
        seed = b"%s|%d|%s" % (bytes(self.pubkey), self._issued, bytes(blockhash))
        digest = hashlib.sha256(seed + to_bytes_versioned(message)).digest()
        return str(uuid.UUID(bytes=digest[:16])), str(uuid.UUID(bytes=digest[16:32]))

    def _prune(self, now: float) -> None:
        """Forget orders long past their expiry. Orders are kept in the order they were made,
        and each expires a fixed time after it was quoted on a clock that only moves forward,
        so the stale ones are at the front: stop at the first that is not (a scan of every
        open order on every call made a fan-out of N users cost N² steps)."""
        horizon = now - self.config.execute_memory_seconds
        while self._orders:
            key = next(iter(self._orders))
            if self._orders[key].quote.pricing.expires_at >= horizon:
                break
            del self._orders[key]


def _pair(t_in: TokenInfo, t_out: TokenInfo) -> tuple[TokenInfo, TokenInfo, Literal["buy", "sell"]]:
    """(token, quote asset, side) of a swap: USDC is the quote when present, else SOL."""
    for quote_symbol in QUOTE_ASSETS:
        if t_in.symbol == quote_symbol:
            return t_out, t_in, "buy"
        if t_out.symbol == quote_symbol:
            return t_in, t_out, "sell"
    raise NoRouteError(f"no route between {t_in.symbol} and {t_out.symbol}")


def _floor_atoms(amount: float, decimals: int) -> int:
    """Whole atoms of `amount` units, rounded down (the maker never pays a fraction)."""
    scaled = amount * 10**decimals
    if not math.isfinite(scaled) or scaled < 0:
        raise NoRouteError(f"cannot price this swap (amount {amount})")
    return min(math.floor(scaled), _U64_MAX)


def _pubkey(value: Pubkey | str, what: str) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise InvalidRequestError(f"{what} is not a valid address: {value!r}") from None


def _sol(source: Pubkey, dest: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=source, to_pubkey=dest, lamports=lamports))


def _spl(
    owner: Pubkey, dest_owner: Pubkey, mint: Pubkey, amount: int, decimals: int
) -> Instruction:
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=associated_token_address(owner, mint),
            mint=mint,
            dest=associated_token_address(dest_owner, mint),
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )


def _program_error(err: str) -> tuple[int, str]:
    """Jupiter's code for a transaction that landed and failed: the custom program error when
    there is one (as Jupiter reports program errors, positive), else "swap rejected"."""
    custom = _CUSTOM_ERROR.search(err)
    if custom is not None:
        return int(custom.group(1)), f"custom program error: #{custom.group(1)} ({err})"
    return CODE_SWAP_REJECTED, f"Transaction failed: {err}"
