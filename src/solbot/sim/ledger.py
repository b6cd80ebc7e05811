"""The sim network's chain: LiteSVM made to behave like a cluster that produces blocks.

LiteSVM is the real Solana runtime (programs, accounts, signature checks, fees), but it is a
library, not a cluster: its clock stands still, and it accepts only its single latest blockhash.
`SimLedger` adds what a client of a real cluster relies on:

- **Blocks.** Slots advance with an injected clock (one slot per 400 ms of simulated time); each
  new slot gets a new blockhash, and the block height follows the slot. The Clock sysvar's
  `unix_timestamp` is kept at the simulated time.
- **The validity window.** A transaction's recent blockhash is accepted while it is one of the
  last 150 blocks' hashes (`lastValidBlockHeight` = the hash's height + 150), as on mainnet;
  LiteSVM's own check (latest hash only) is switched off and this one is applied instead.
- **Signature statuses.** Every processed transaction's slot, fee and error are remembered for
  `getSignatureStatuses`; a re-sent transaction that already landed is reported as such. Errors
  are written as the JSON-RPC API writes them (`BlockhashNotFound`,
  `{"InstructionError":[0,{"Custom":1}]}`), so the embedded chain and the RPC one agree.
- **Commitment.** The sim has one leader and no forks: a block is confirmed at once and
  finalized (rooted) `FINALITY_SLOTS` slots later, about 12.8 s, as on mainnet.
- **Transaction history.** The latest transactions are kept with their block time and the lamport
  balances of their accounts before and after, for `getTransaction`.
- **Snapshots.** The accounts the sim created or a transaction touched, the clock and the
  signature statuses serialise to JSON and restore, so a stopped sim continues the same world.
- **The journal.** With a `LedgerJournal` attached (`journal_to`), every change (an executed
  batch's accounts and statuses, a faucet deposit) is appended and synced before anyone is told
  of it, and `restore` replays it: a killed sim never loses a fill the bot has booked
  (`sim/journal.py`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, Literal

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    SimulatedTransactionInfo,
)
from spl.token.constants import ACCOUNT_LEN, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from solbot.chain.builders import associated_token_address
from solbot.chain.port import TokenHolding
from solbot.sim.journal import LedgerJournal
from solbot.sim.ledger_outcomes import (
    Executed,
    RejectedError,
    TokenBalance,
    TxOutcome,
    TxRecord,
    error_text,
    outcome_of,
    status_from_row,
    status_row,
)
from solbot.sim.sbf_thread import run_sbf

SLOT_SECONDS = 0.4
VALIDITY_BLOCKS = 150
FIRST_SLOT = 1_000
FINALITY_SLOTS = 32  # a block is rooted (finalized) this many slots after it is confirmed
_STATUS_MEMORY = 50_000  # signatures remembered for status queries (oldest dropped first)
_HISTORY_MEMORY = 2_000  # whole transactions remembered for getTransaction (oldest dropped first)


class SimLedger:
    """A LiteSVM that produces blocks on a clock. Not thread-safe: one owner drives it, and
    only program execution (with the balance reads around it) runs on the SBF thread, which
    takes one job at a time, in order."""

    def __init__(self, now: float) -> None:
        self._start(start_time=now, now=now, slot=FIRST_SLOT, block_height=0, transactions=0)
        self._new_block()

    def _start(
        self, *, start_time: float, now: float, slot: int, block_height: int, transactions: int
    ) -> None:
        """Every field of a ledger, for a new world and a restored one alike (one list, so a
        restored ledger cannot lack one a new ledger has)."""
        self.svm = _new_svm()
        self._start_time = float(start_time)
        self._now = float(now)
        self.slot = slot
        self.block_height = block_height
        self.transaction_count = transactions  # since genesis (getEpochInfo's transactionCount)
        self._hashes: OrderedDict[str, int] = OrderedDict()  # blockhash -> block height
        self._statuses: OrderedDict[Signature, TxOutcome] = OrderedDict()
        self._history: OrderedDict[Signature, TxRecord] = OrderedDict()
        self._touched: set[Pubkey] = set()
        self._keys: dict[Pubkey, Pubkey] = {}  # `_same`: bounded by the accounts and mints
        self._batch: list[tuple[VersionedTransaction, list[Pubkey], asyncio.Future[Executed]]] = []
        self._journal: LedgerJournal | None = None

    def journal_to(self, journal: LedgerJournal | None) -> None:
        """From now on, every change is appended to `journal` (synced) before it is reported."""
        self._journal = journal

    # ------------------------------------------------------------------ time and blocks
    @property
    def now(self) -> float:
        return self._now

    def advance_to(self, now: float) -> None:
        """Produce the blocks that fit between the last sync and `now` (time never goes back)."""
        if now <= self._now:
            return
        target = FIRST_SLOT + math.floor((now - self._start_time) / SLOT_SECONDS)
        self._now = float(now)
        if target > self.slot:
            skipped = target - self.slot
            self.slot = target
            self.block_height += skipped - 1  # the last of them is made by _new_block
            self._new_block()
        else:
            self._set_clock()

    def _new_block(self) -> None:
        self.svm.expire_blockhash()
        self.block_height += 1
        self.svm.warp_to_slot(self.slot)
        self._set_clock()
        self._hashes[str(self.svm.latest_blockhash())] = self.block_height
        while self._hashes:
            oldest, height = next(iter(self._hashes.items()))
            if height + VALIDITY_BLOCKS >= self.block_height:
                break
            del self._hashes[oldest]

    def _set_clock(self) -> None:
        clock = self.svm.get_clock()
        clock.slot = self.slot
        clock.unix_timestamp = int(self._now)
        self.svm.set_clock(clock)

    def latest_blockhash(self) -> tuple[Hash, int]:
        """The newest blockhash and the last block height at which it is still accepted."""
        blockhash = self.svm.latest_blockhash()
        return blockhash, self._hashes[str(blockhash)] + VALIDITY_BLOCKS

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        return str(blockhash) in self._hashes

    # ------------------------------------------------------------------ transactions
    def send(self, tx: VersionedTransaction) -> TxOutcome:
        """Execute a transaction now; raises `RejectedError` if the cluster would not take it."""
        keys = self._admit(tx)
        done = run_sbf(lambda: self._execute(tx, keys))
        self._log_executed([done])
        return self._record(tx, keys, done)

    async def send_async(self, tx: VersionedTransaction) -> TxOutcome:
        """`send` for many callers at once: the transactions sent while the event loop is busy
        go to the SBF thread together, in one hop, in the order they were sent. A hop costs
        about as much as executing a swap (50-60 µs), so a fan-out of thousands of swaps would
        otherwise spend a fifth of LiteSVM's time handing work to its thread and back."""
        keys = self._admit(tx)
        landed: asyncio.Future[Executed] = asyncio.get_running_loop().create_future()
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._run_batch)
        self._batch.append((tx, keys, landed))
        return self._record(tx, keys, await landed)

    def _run_batch(self) -> None:
        batch, self._batch = self._batch, []
        try:
            done = run_sbf(lambda: [self._execute(tx, keys) for tx, keys, _ in batch])
        except Exception as exc:  # a LiteSVM failure: every sender hears of it
            for _, _, landed in batch:
                if not landed.cancelled():
                    landed.set_exception(exc)
            return
        self._log_executed(done)  # on disk before any sender hears of it
        for (_, _, landed), executed in zip(batch, done, strict=True):
            if not landed.cancelled():
                landed.set_result(executed)

    def _admit(self, tx: VersionedTransaction) -> list[Pubkey]:
        """What the cluster refuses before executing: a known signature, an expired hash."""
        if tx.signatures[0] in self._statuses:
            raise RejectedError("AlreadyProcessed")
        if not self.is_blockhash_valid(tx.message.recent_blockhash):
            raise RejectedError("BlockhashNotFound")
        return list(tx.message.account_keys)

    def _execute(self, tx: VersionedTransaction, keys: list[Pubkey]) -> Executed:
        """On the SBF thread: the balances around the execution, read next to it so that other
        transactions queued on the thread cannot come between."""
        programs = {ix.program_id_index for ix in tx.message.instructions}
        pre, pre_tokens = self._balances(keys, programs)
        result = self.svm.send_transaction(tx)
        # LiteSVM reports a fee even for a transaction it refused before execution (bad
        # signature, unknown or broke fee payer, ...); only a committed one is in its history.
        committed = not isinstance(result, FailedTransactionMetadata) or (
            self.svm.get_transaction(tx.signatures[0]) is not None
        )
        post, post_tokens = self._balances(keys, programs) if committed else (pre, pre_tokens)
        written = self._contents(keys) if committed and self._journal is not None else ()
        return Executed(
            tx.signatures[0], result, committed, pre, post, pre_tokens, post_tokens, written
        )

    def _balances(
        self, keys: list[Pubkey], programs: set[int]
    ) -> tuple[tuple[int, ...], tuple[TokenBalance, ...]]:
        """The lamports of every key, and the token accounts among them with their balances,
        one read an account (a program's account only by its balance: its data is its code)."""
        lamports = []
        tokens = []
        for index, key in enumerate(keys):
            if index in programs:
                lamports.append(self.balance(key))
                continue
            account = self.svm.get_account(key)
            lamports.append(0 if account is None else account.lamports)
            if account is None or not _is_token_account(account):
                continue
            state = TokenAccount.from_bytes(bytes(account.data[:ACCOUNT_LEN]))
            owner, mint, program = (self._same(k) for k in (state.owner, state.mint, account.owner))
            tokens.append(TokenBalance(index, program, TokenHolding(owner, mint, state.amount)))
        return tuple(lamports), tuple(tokens)

    def _same(self, key: Pubkey) -> Pubkey:
        """One object per address among the recorded token balances: the 2,000 remembered
        transactions name the same few owners, mints and programs over and over."""
        return self._keys.setdefault(key, key)

    def _contents(self, keys: list[Pubkey]) -> tuple[tuple[str, str | None], ...]:
        """The world's own accounts among `keys`, as the journal records them."""
        found = []
        for key in keys:
            account = self.svm.get_account(key)
            if account is None:
                found.append((str(key), None))
            elif not account.executable and account.owner != _SYSVAR_OWNER:
                found.append((str(key), base64.b64encode(bytes(account)).decode()))
        return tuple(found)

    def _log_executed(self, done: list[Executed]) -> None:
        """Journal what a batch committed: the accounts it wrote and its statuses."""
        if self._journal is None:
            return
        accounts: dict[str, str | None] = {}
        statuses = []
        for executed in done:
            if not executed.committed:
                continue
            outcome = outcome_of(executed, self.slot)
            if outcome.err == "AlreadyProcessed":
                continue
            accounts.update(executed.accounts)
            statuses.append(status_row(outcome))
        if statuses:
            self._journal.append(self._entry(list(accounts.items()), statuses))

    def _entry(self, accounts: list[tuple[str, str | None]], statuses: list[list[Any]]) -> dict:
        return {
            "now": self._now,
            "slot": self.slot,
            "height": self.block_height,
            "accounts": accounts,
            "statuses": statuses,
        }

    def _record(self, tx: VersionedTransaction, keys: list[Pubkey], done: Executed) -> TxOutcome:
        signature = tx.signatures[0]
        outcome = outcome_of(done, self.slot)
        if outcome.err == "AlreadyProcessed" or not done.committed:
            raise RejectedError(outcome.err or "", outcome.logs)
        self._touched.update(keys)
        self._remember(outcome)
        self.transaction_count += 1
        when = self.block_time(self.slot)  # its block's time, what getBlockTime says of it
        assert when is not None  # the current slot has been made
        self._history[signature] = TxRecord(
            tx, outcome, when, done.pre, done.post, self.transaction_count,
            done.pre_tokens, done.post_tokens,
        )  # fmt: skip
        while len(self._history) > _HISTORY_MEMORY:
            self._history.popitem(last=False)
        return outcome

    def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> TxOutcome:
        """Run a transaction without committing it (preflight).

        Refuses, as `send` would (and in the same order), a transaction that already landed or
        whose blockhash expired: the status-cache and age checks of a validator's preflight.
        `sig_verify=False` skips signature checks, as `simulateTransaction` does by default.
        """
        if tx.signatures[0] in self._statuses:
            raise RejectedError("AlreadyProcessed")
        if not self.is_blockhash_valid(tx.message.recent_blockhash):
            raise RejectedError("BlockhashNotFound")
        result = run_sbf(lambda: self._simulate(tx, sig_verify))
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return TxOutcome(
                tx.signatures[0], self.slot, error_text(result.err()), meta.fee(),
                tuple(meta.logs()), meta.compute_units_consumed(),
            )  # fmt: skip
        meta = result.meta()
        return TxOutcome(
            tx.signatures[0], self.slot, None, meta.fee(), tuple(meta.logs()),
            meta.compute_units_consumed(),
        )  # fmt: skip

    def _simulate(
        self, tx: VersionedTransaction, sig_verify: bool
    ) -> SimulatedTransactionInfo | FailedTransactionMetadata:
        """On the SBF thread, so that no send queued there runs with the switch flipped."""
        verifying = self.svm.get_sigverify()
        self.svm.with_sigverify(sig_verify)  # LiteSVM's builders change it in place
        try:
            return self.svm.simulate_transaction(tx)
        finally:
            self.svm.with_sigverify(verifying)

    def status(self, signature: Signature) -> TxOutcome | None:
        return self._statuses.get(signature)

    def transaction(self, signature: Signature) -> TxRecord | None:
        """A recent processed transaction with its outcome and balances (None when unknown)."""
        return self._history.get(signature)

    def recent_transactions(self, after: int = 0) -> Iterator[TxRecord]:
        """The remembered transactions newest first, down to (not including) number `after`."""
        for record in reversed(self._history.values()):
            if record.seq <= after:
                return
            yield record

    def block_time(self, slot: int) -> int | None:
        """When block `slot` was made (Unix seconds); None for a slot not made yet. Slots
        follow the clock (`advance_to`), so any slot since the world began has its time."""
        if slot > self.slot:
            return None
        return int(self._start_time + (slot - FIRST_SLOT) * SLOT_SECONDS)

    def confirmation(self, outcome: TxOutcome) -> Literal["confirmed", "finalized"]:
        """The commitment a processed transaction has reached by now."""
        return "finalized" if self.slot - outcome.slot >= FINALITY_SLOTS else "confirmed"

    def _remember(self, outcome: TxOutcome) -> None:
        # without its logs: a status is asked for its slot, error and fee; the logs of the
        # recent transactions are in `_history`
        self._statuses[outcome.signature] = replace(outcome, logs=()) if outcome.logs else outcome
        while len(self._statuses) > _STATUS_MEMORY:
            self._statuses.popitem(last=False)

    # ------------------------------------------------------------------ accounts
    def airdrop(self, owner: Pubkey, lamports: int) -> None:
        self._touched.add(owner)
        account = self.svm.get_account(owner)
        balance = account.lamports if account is not None else 0
        self._put(owner, Account(balance + lamports, b"", _SYSTEM_PROGRAM, False, 0))

    def balance(self, owner: Pubkey) -> int:
        return int(self.svm.get_balance(owner) or 0)

    def create_mint(
        self,
        mint: Pubkey,
        decimals: int,
        authority: Pubkey,
        freeze_authority: Pubkey | None = None,
    ) -> None:
        """Place an SPL mint at a chosen address (the real mainnet address of a token); with a
        `freeze_authority`, a mint whose issuer can freeze holders, as some on mainnet."""
        self._write_mint(mint, decimals, authority, 0, freeze_authority)

    def _write_mint(
        self,
        mint: Pubkey,
        decimals: int,
        authority: Pubkey | None,
        supply: int,
        freeze_authority: Pubkey | None = None,
    ) -> None:
        data = bytes(
            Mint(
                mint_authority=authority, supply=supply, decimals=decimals, is_initialized=True,
                freeze_authority=freeze_authority,
            )
        )  # fmt: skip
        rent = self.svm.minimum_balance_for_rent_exemption(len(data))
        self._put(mint, Account(rent, data, TOKEN_PROGRAM_ID, False, 0))

    def mint_decimals(self, mint: Pubkey) -> int:
        account = self.svm.get_account(mint)
        if account is None:
            raise KeyError(f"no mint at {mint}")
        return Mint.from_bytes(bytes(account.data)).decimals

    def set_token_balance(self, owner: Pubkey, mint: Pubkey, amount: int) -> Pubkey:
        """Give `owner` an associated token account holding `amount` atoms (sim funding); the
        mint's supply moves by the difference, so it stays the sum of the balances."""
        before = self.token_balance(owner, mint)
        ata = associated_token_address(owner, mint)
        state = TokenAccount(
            mint=mint, owner=owner, amount=amount, delegate=None,
            state=TokenAccountState.Initialized, is_native=None, delegated_amount=0,
            close_authority=None,
        )  # fmt: skip
        data = bytes(state)
        rent = self.svm.minimum_balance_for_rent_exemption(len(data))
        self._put(ata, Account(rent, data, TOKEN_PROGRAM_ID, False, 0))
        mint_account = self.svm.get_account(mint)
        if mint_account is not None:
            old = Mint.from_bytes(bytes(mint_account.data))
            supply = old.supply + amount - before
            self._write_mint(mint, old.decimals, old.mint_authority, supply)
        return ata

    def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        """Atoms of `mint` in `owner`'s associated token account (0 if it has none)."""
        account = self.svm.get_account(associated_token_address(owner, mint))
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return 0
        return int(TokenAccount.from_bytes(bytes(account.data)).amount)

    def account(self, address: Pubkey) -> Account | None:
        return self.svm.get_account(address)

    def token_accounts(
        self, owner: Pubkey, mint: Pubkey | None = None
    ) -> list[tuple[Pubkey, Account]]:
        """`owner`'s SPL Token accounts (of `mint` only, if given), in address order.

        The accounts this world created or a transaction touched are scanned, which stands in
        for the owner index a validator keeps for `getTokenAccountsByOwner`.
        """
        found = []
        for address in sorted(self._touched, key=str):
            account = self.svm.get_account(address)
            if account is None or account.owner != TOKEN_PROGRAM_ID:
                continue
            if len(account.data) != ACCOUNT_LEN:
                continue  # a mint or a multisig
            state = TokenAccount.from_bytes(bytes(account.data))
            if state.owner == owner and (mint is None or state.mint == mint):
                found.append((address, account))
        return found

    def _put(self, address: Pubkey, account: Account) -> None:
        self._touched.add(address)
        self.svm.set_account(address, account)
        if self._journal is not None:  # a faucet deposit, the maker's funding
            encoded = base64.b64encode(bytes(account)).decode()
            self._journal.append(self._entry([(str(address), encoded)], []))

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue this world later, as JSON-ready data."""
        accounts = {}
        for address in sorted(self._touched, key=str):
            account = self.svm.get_account(address)
            # Programs and sysvars come with every LiteSVM; only state is the world's own.
            if account is not None and not account.executable and account.owner != _SYSVAR_OWNER:
                accounts[str(address)] = json.loads(account.to_json())
        return {
            "version": 1,
            "start_time": self._start_time,
            "now": self._now,
            "slot": self.slot,
            "block_height": self.block_height,
            "transaction_count": self.transaction_count,
            "accounts": accounts,
            "statuses": [status_row(outcome) for outcome in self._statuses.values()],
        }

    @classmethod
    def restore(cls, snap: dict[str, Any], journal: Iterable[dict[str, Any]] = ()) -> SimLedger:
        """A ledger continuing a snapshot and then the journal written after it: same accounts,
        same statuses, same clock, a fresh block window.

        Blockhashes from before the restart are not carried over (LiteSVM cannot be given
        them), so a transaction signed before a restart needs a new blockhash, exactly as if it
        had expired; the executor's journal handles that case.
        """
        if snap.get("version") != 1:
            raise ValueError(f"unknown sim snapshot version {snap.get('version')!r}")
        ledger = cls.__new__(cls)
        ledger._start(
            start_time=float(snap["start_time"]),
            now=float(snap["now"]),
            slot=int(snap["slot"]),
            block_height=int(snap["block_height"]),
            # a world saved before the count existed: at least what it remembers
            transactions=int(snap.get("transaction_count", len(snap.get("statuses", ())))),
        )
        for address, data in snap["accounts"].items():
            ledger._put(Pubkey.from_string(address), Account.from_json(json.dumps(data)))
        for row in snap.get("statuses", ()):
            ledger._remember(status_from_row(row))
        for entry in journal:
            ledger._replay(entry)
        ledger.slot += 1
        ledger._new_block()
        return ledger

    def _replay(self, entry: dict[str, Any]) -> None:
        """Apply one journal record (absolute contents: applying it twice changes nothing)."""
        for address, encoded in entry["accounts"]:
            account = (
                Account.from_bytes(base64.b64decode(encoded))
                if encoded is not None
                else Account(0, b"", _SYSTEM_PROGRAM, False, 0)
            )
            self._put(Pubkey.from_string(address), account)
        for row in entry["statuses"]:
            self._remember(status_from_row(row))
        self.transaction_count += len(entry["statuses"])
        if entry["now"] > self._now:
            self._now = float(entry["now"])
        self.slot = max(self.slot, int(entry["slot"]))
        self.block_height = max(self.block_height, int(entry["height"]))


_SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
_SYSVAR_OWNER = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")


_TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
_ACCOUNT_TYPE_ACCOUNT = 2  # Token-2022's account-type byte after the base layout: an account


def _is_token_account(account: Account) -> bool:
    """A token account of either token program (not a mint, not a multisig)."""
    if account.owner not in _TOKEN_PROGRAMS or len(account.data) < ACCOUNT_LEN:
        return False
    if len(account.data) == ACCOUNT_LEN:
        return True
    return account.owner == TOKEN_2022_PROGRAM_ID and account.data[ACCOUNT_LEN] == (
        _ACCOUNT_TYPE_ACCOUNT
    )


def new_keypair_from_seed(seed: bytes) -> Keypair:
    """A deterministic keypair for sim actors (the maker, test wallets): never for users."""
    return Keypair.from_seed(seed[:32].ljust(32, b"\0"))


# LiteSVM keeps transactions of its own (10,000 by default, natively, logs and metadata
# included); the ledger asks it about a transaction only right after sending it (was a failed
# one committed?), and keeps its own record for statuses and `getTransaction`. A short native
# history keeps the sim from holding every transaction twice. With this, statuses without
# their logs and 2,000 whole transactions (10,000 before), 16,000 SOL transfers leave a ledger
# at 63.9 MB RSS instead of 78.8 MB, growing 0.25 KB a transaction instead of 0.85 KB.
_SVM_HISTORY = 64


# Wrapped SOL's mint, as every cluster has it from genesis (LiteSVM does not): a mint like any
# other to whoever reads it, so a withdrawal to it is refused here as on mainnet.
_NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
_NATIVE_DECIMALS = 9


def _new_svm() -> LiteSVM:
    svm = LiteSVM().with_blockhash_check(False).with_transaction_history(_SVM_HISTORY)
    data = bytes(
        Mint(
            mint_authority=None, supply=0, decimals=_NATIVE_DECIMALS, is_initialized=True,
            freeze_authority=None,
        )
    )  # fmt: skip
    rent = svm.minimum_balance_for_rent_exemption(len(data))
    svm.set_account(_NATIVE_MINT, Account(rent, data, TOKEN_PROGRAM_ID, False, 0))
    return svm
