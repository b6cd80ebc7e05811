"""The integration tests' tools: `solbot sim serve` and `solbot run` as real processes, the chain
read through solana-py's `AsyncClient`, and the bot's database read directly.

Every process runs in its own temporary directory (no stray `.env` or `solbot.toml`), with no
`SOLBOT_*` variable or proxy inherited, and every URL is 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from solbot.chain.builders import (
    build_transaction,
    create_associated_token_account,
    sol_transfer,
    token_transfer_checked,
)
from solbot.config import DEFAULT_TOKENS
from solbot.store.tables import OrderRow, PositionRow, TradeRow

SOLBOT = [sys.executable, "-m", "solbot.cli.app"]
TOKENS = {t.symbol: t for t in DEFAULT_TOKENS}
USDC = TOKENS["USDC"]
TRADED = ("JUP", "BONK", "WIF", "JTO")  # the default trade tokens
# A fast strategy on 1-minute candles: crossovers every few bars, so a short run trades.
SETTINGS = {
    "SOLBOT_TIMEFRAME": "1m",
    "SOLBOT_STRATEGY": "ema_trend",
    "SOLBOT_STRATEGY_PARAMS": json.dumps(
        {"fast": 2, "slow": 3, "rsi_period": 2, "rsi_min": 0, "rsi_max": 100, "atr_period": 2}
    ),
    "SOLBOT_RISK_TIER": "aggressive",
}
SIGKILL_CODE = -signal.SIGKILL
T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child: ours minus anything that could configure solbot or send
    traffic through a proxy, plus the shared settings and `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SOLBOT_")
        and not k.lower().endswith("_proxy")
        and k not in ("WALLET_PRIVATE_KEY", "DATABASE_URL", "MASTER_ENCRYPTION_KEY")
        and k != "MASTER_ENCRYPTION_KEY_OLD"
    }
    env.update(NO_PROXY="127.0.0.1", COLUMNS="120", PYTHONUNBUFFERED="1", **SETTINGS)
    env.update(extra)
    return env


@dataclass
class SimServer:
    """A running `solbot sim serve` and what its banner said."""

    process: subprocess.Popen[bytes]
    folder: Path
    rpc_url: str
    jupiter_url: str
    secret: str

    @property
    def wallet(self) -> Keypair:
        return Keypair.from_base58_string(self.secret)

    def output(self) -> str:
        return _read(self.folder / "serve.out") + _read(self.folder / "serve.err")

    def stop(self) -> int:
        """SIGTERM (saves the world and exits 0), SIGKILL if it hangs; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def sim_server(folder: Path, *args: str, **env: str) -> Iterator[SimServer]:
    """Start `solbot sim serve` on free ports with `args`; read the URLs and the key it prints."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [*SOLBOT, "--data-dir", str(folder / "data"), "sim", "serve"]
    command += ["--rpc-port", "0", "--jupiter-port", "0", *args]
    with (folder / "serve.out").open("wb") as out, (folder / "serve.err").open("wb") as err:
        process = subprocess.Popen(
            command, cwd=folder, env=clean_env(**env), stdout=out, stderr=err
        )
    try:
        env = _wait_for_env_line(process, folder, timeout=60.0)
        server = SimServer(
            process,
            folder,
            env["SOLBOT_RPC_URL"],
            env["SOLBOT_JUPITER_URL"],
            env["WALLET_PRIVATE_KEY"],
        )
        for url in (server.rpc_url, server.jupiter_url):
            assert url.startswith("http://127.0.0.1:"), url
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_env_line(
    process: subprocess.Popen[bytes], folder: Path, timeout: float
) -> dict[str, str]:
    """The `SOLBOT_RPC_URL=... SOLBOT_JUPITER_URL=... WALLET_PRIVATE_KEY=... solbot run` line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _read(folder / "serve.out").splitlines():
            if line.startswith("SOLBOT_RPC_URL="):
                words = line.split()
                assert words[-2:] == ["solbot", "run"], line
                return dict(word.split("=", 1) for word in words[:-2])
        if process.poll() is not None:
            raise AssertionError(f"sim serve exited {process.returncode}:\n{_read_all(folder)}")
        time.sleep(0.05)
    raise AssertionError(f"sim serve printed no env line in {timeout} s:\n{_read_all(folder)}")


@dataclass(frozen=True)
class BotRun:
    """One finished `solbot run` process."""

    code: int
    out: str
    err: str
    seconds: float

    def describe(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f} s\n{self.out}\n{self.err}"


async def run_bot(
    folder: Path,
    sim: SimServer,
    secret: str,
    *args: str,
    timeout: float = 60.0,
    **env: str,
) -> BotRun:
    """`solbot --data-dir <folder>/data run ARGS` against `sim`, with `secret` as the wallet."""
    return await run_solbot(
        folder,
        sim,
        "run",
        *args,
        timeout=timeout,
        SOLBOT_JUPITER_URL=sim.jupiter_url,
        WALLET_PRIVATE_KEY=secret,
        **env,
    )


async def run_solbot(
    folder: Path, sim: SimServer | None, *args: str, timeout: float = 60.0, **env: str
) -> BotRun:
    """`solbot --data-dir <folder>/data ARGS` on `sim`'s network (its JSON-RPC), or without one
    on the embedded sim, with `env` over the clean environment; killed and reported if it
    outlives `timeout`."""
    folder.mkdir(parents=True, exist_ok=True)
    served = {"SOLBOT_RPC_URL": sim.rpc_url} if sim is not None else {}
    child_env = clean_env(SOLBOT_NETWORK="sim", **served, **env)
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *SOLBOT,
        "--data-dir",
        str(folder / "data"),
        *args,
        cwd=folder,
        env=child_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(
            f"solbot {' '.join(args)} did not finish in {timeout} s:\n{out.decode()}\n"
            f"{err.decode()}"
        ) from None
    assert process.returncode is not None
    return BotRun(process.returncode, out.decode(), err.decode(), time.monotonic() - began)


def bot_log(folder: Path) -> str:
    return _read(folder / "data" / "sim" / "solbot.log")


# ---------------------------------------------------------------------------------- the chain
async def patiently(call: Callable[[], Awaitable[T]], attempts: int = 50) -> T:
    """A read retried while the sim answers 503 (its `--error-rate` fault hits the test too)."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except SolanaRpcException:
            await asyncio.sleep(0.01)
    return await call()


async def token_balance(client: AsyncClient, owner: Pubkey, mint: str) -> int:
    """Atoms of `mint` held by `owner`, summed over its token accounts (0 with none)."""
    answer = await patiently(
        lambda: client.get_token_accounts_by_owner_json_parsed(
            owner, TokenAccountOpts(mint=Pubkey.from_string(mint)), commitment=Confirmed
        )
    )
    total = 0
    for account in answer.value:
        parsed = account.account.data.parsed
        total += int(parsed["info"]["tokenAmount"]["amount"])
    return total


async def landed(client: AsyncClient, signature: str) -> bool | None:
    """True if the transaction landed and succeeded, False if it landed and failed, None if the
    chain has never seen it."""
    answer = await patiently(
        lambda: client.get_signature_statuses(
            [Signature.from_string(signature)], search_transaction_history=True
        )
    )
    status = answer.value[0]
    if status is None:
        return None
    return status.err is None


async def fund_wallet(client: AsyncClient, source: Keypair, usdc: int, lamports: int) -> Keypair:
    """A new wallet holding `usdc` atoms and `lamports`, paid by `source` (the sim's funded test
    wallet) in one real transaction sent over JSON-RPC, so several bots can share one sim."""
    wallet = Keypair()
    mint = Pubkey.from_string(USDC.mint)
    blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
    tx = build_transaction(
        source.pubkey(),
        [
            sol_transfer(source.pubkey(), wallet.pubkey(), lamports),
            create_associated_token_account(source.pubkey(), wallet.pubkey(), mint),
            token_transfer_checked(source.pubkey(), wallet.pubkey(), mint, usdc, USDC.decimals),
        ],
        blockhash,
        [source],
    )
    signature = (await client.send_raw_transaction(bytes(tx), TxOpts(skip_confirmation=True))).value
    for _ in range(200):
        if await landed(client, str(signature)) is not None:
            break
        await asyncio.sleep(0.02)
    assert await landed(client, str(signature)) is True
    assert await token_balance(client, wallet.pubkey(), USDC.mint) == usdc
    return wallet


# ---------------------------------------------------------------------------------- the books
@dataclass(frozen=True)
class Books:
    """The bot's database, read after it stopped."""

    orders: list[OrderRow]
    positions: list[PositionRow]
    trades: list[TradeRow]

    def open_quantity(self, symbol: str) -> int:
        return sum(p.quantity for p in self.positions if p.token == symbol and p.status == "open")

    def cash_flow(self) -> int:
        """Quote atoms the positions moved: minus every entry's cost, plus every exit's proceeds."""
        return sum((p.proceeds or 0) - p.cost for p in self.positions)


def read_books(folder: Path) -> Books:
    engine = create_engine(f"sqlite:///{folder / 'data' / 'sim' / 'solbot.db'}")
    try:
        with Session(engine) as s:
            return Books(
                list(s.scalars(select(OrderRow).order_by(OrderRow.created_at))),
                list(s.scalars(select(PositionRow))),
                list(s.scalars(select(TradeRow))),
            )
    finally:
        engine.dispose()


async def assert_books_match_chain(
    client: AsyncClient, books: Books, owner: Pubkey, usdc_before: int
) -> None:
    """Open positions equal the wallet's token balances to the atom, and every quote atom the
    wallet lost or gained is one the positions account for (no fill the books do not know)."""
    for symbol in TRADED:
        held = await token_balance(client, owner, TOKENS[symbol].mint)
        assert books.open_quantity(symbol) == held, symbol
    usdc_after = await token_balance(client, owner, USDC.mint)
    assert usdc_after - usdc_before == books.cash_flow()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _read_all(folder: Path) -> str:
    return "\n".join(_read(p) for p in sorted(folder.glob("serve.*")))
