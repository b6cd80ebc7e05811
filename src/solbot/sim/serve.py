"""The simulated network on sockets (`solbot sim serve`), for a `solbot run` in another process.

`solbot run` embeds the sim by default. Serving it instead puts the same world (the same state
file, `sim-state.json` in the data dir) behind the wire protocols the bot speaks to a real
cluster: Solana JSON-RPC over HTTP (and PubSub websockets on the next port) and Jupiter's Swap and
Price APIs. The bot then runs its real HTTP code paths (`RpcChain`, `JupiterClient`), and can be
killed and restarted while the chain keeps going, which is what the crash-safety tests need.

Next to the Jupiter API the server answers two sim-only paths that `solbot run` uses when its
network is a remote sim (see `solbot.runner`):
- `GET /sim/clock`: `{"now", "speed"}`, the simulated time and how fast it runs, so the bot
  lives on the sim's time however fast it is accelerated;
- `GET /sim/candles?symbol=&timeframe=&start=&end=`: the closed candles of the price path in
  `[start, end)` (never past the sim's now), built as `SimNetwork.write_history` builds them,
  so the bot back-fills its strategy's warm-up as the embedded sim does.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.console import Console
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from solbot.clock import ScaledClock
from solbot.config import Settings
from solbot.domain import Timeframe
from solbot.errors import UserError
from solbot.runner import open_sim_network, sim_start_time
from solbot.runtime import SAVE_EVERY_SECONDS
from solbot.sim.client import SIM_CANDLES_PATH, SIM_CLOCK_PATH, SIM_FUND_PATH
from solbot.sim.jupiter_http import serve_jupiter
from solbot.sim.ledger import SLOT_SECONDS, VALIDITY_BLOCKS
from solbot.sim.lock import SimLock
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.sim.rpc_server import Congestion, Faults, serve_rpc
from solbot.sim.rpc_wire import ui_amount
from solbot.strategy.registry import load_strategy

HOST = "127.0.0.1"
MIN_SAVE_WALL_SECONDS = 2.0  # at high speed, 300 simulated seconds pass too fast to save each
MAX_STEPS = 2_000_000  # price-path steps per /sim/candles request (~230 days of 10 s steps)


async def serve_sim(
    cfg: Settings,
    rpc_port: int,
    jupiter_port: int,
    speed: float,
    faults: Faults,
    *,
    explicit_seed: int | None,
    congestion: Congestion | None = None,
) -> None:
    """Serve the world in `cfg`'s data dir until SIGINT/SIGTERM, owning it (`SimLock`) for the
    duration, and save it on the way out."""
    lock = SimLock.acquire(cfg.sim_state_path)
    try:
        await _serve_locked(
            cfg, rpc_port, jupiter_port, speed, faults, explicit_seed, congestion or Congestion()
        )
    finally:
        lock.release()


async def _serve_locked(
    cfg: Settings,
    rpc_port: int,
    jupiter_port: int,
    speed: float,
    faults: Faults,
    explicit_seed: int | None,
    congestion: Congestion,
) -> None:
    existed = cfg.sim_state_path.exists()
    clock = ScaledClock(sim_start_time(cfg), speed)
    strategy = load_strategy(cfg.strategy, cfg.strategy_params)
    network = open_sim_network(cfg, clock, strategy)
    if existed and explicit_seed is not None and explicit_seed != network.seed:
        raise UserError(
            f"the world in {cfg.sim_state_path} was made with seed {network.seed}, not "
            f"{explicit_seed}: drop --seed, or use another --data-dir"
        )
    try:
        rpc = await serve_rpc(
            network.ledger, clock, host=HOST, port=rpc_port, faults=faults, congestion=congestion
        )
    except OSError as exc:
        raise UserError(f"cannot serve JSON-RPC on {HOST}:{rpc_port}: {exc}") from None
    try:
        app = sim_http_app(network, lambda: network.save(cfg.sim_state_path), congestion)
        jupiter = await serve_jupiter(app, host=HOST, port=jupiter_port)
    except OSError as exc:
        await rpc.stop()
        raise UserError(f"cannot serve Jupiter on {HOST}:{jupiter_port}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        _banner(cfg, network, rpc.url, rpc.ws_url, jupiter.url, speed, faults, existed)
        if congestion.going_rate and congestion.busy_share:
            Console(highlight=False).print(
                f"  congestion   busy {congestion.busy_share:.0%} of the time in spells of "
                f"{congestion.spell_slots} slots: bids under {congestion.going_rate:,} "
                "micro-lamports a compute unit are dropped then"
            )
        await _keep_saving(cfg, network, clock, stop)
    finally:
        await jupiter.stop()
        await rpc.stop()
        network.save(cfg.sim_state_path)
        network.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    Console(highlight=False).print(f"[dim]stopped; the world is saved in {cfg.sim_state_path}[/]")


async def _keep_saving(
    cfg: Settings, network: SimNetwork, clock: ScaledClock, stop: asyncio.Event
) -> None:
    """Save every `SAVE_EVERY_SECONDS` of simulated time (but not more often than every
    `MIN_SAVE_WALL_SECONDS` of real time), until asked to stop. A crash of the server then loses
    minutes of the sim, never the state file (`save` replaces it atomically)."""
    period = max(SAVE_EVERY_SECONDS / clock.speed, MIN_SAVE_WALL_SECONDS)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period)
        if not stop.is_set():
            network.save(cfg.sim_state_path)


def sim_http_app(
    network: SimNetwork,
    saved: Callable[[], None] = lambda: None,
    congestion: Congestion | None = None,
) -> Starlette:
    """The maker's Jupiter API plus the sim-only `/sim/clock`, `/sim/candles` and the faucet
    `/sim/fund` (which calls `saved` after funding, so a crash does not take the money back)."""

    async def fund_endpoint(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            address, symbol, amount = _funding(network, body)
        except KeyError as exc:
            return JSONResponse({"error": f"missing {exc.args[0]!r}"}, status_code=400)
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        decimals = 9 if symbol == "SOL" else network.token(symbol).decimals
        atoms = int(amount.scaleb(decimals))
        balance = network.fund(address, symbol, atoms)
        saved()
        return JSONResponse(
            {
                "address": str(address),
                "token": symbol,
                "amount": ui_amount(atoms, decimals)["uiAmountString"],
                "balance": ui_amount(balance, decimals)["uiAmountString"],
            }
        )

    async def clock_endpoint(_request: Request) -> JSONResponse:
        return JSONResponse({"now": network.clock.now(), "speed": _speed(network)})

    async def candles_endpoint(request: Request) -> JSONResponse:
        params = request.query_params
        try:
            symbol = network.token(params.get("symbol", "")).symbol
            timeframe = Timeframe.parse(params.get("timeframe", ""))
            start, end = int(params["start"]), int(params["end"])
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        end = min(end, int(network.clock.now()))  # only the past: no candle that has not closed
        if (end - start) / network.prices.step_seconds > MAX_STEPS:
            # The candles are built step by step on the loop that also serves the RPC.
            days = MAX_STEPS * network.prices.step_seconds / 86_400
            return JSONResponse({"error": f"at most {days:.0f} days per request"}, status_code=400)
        series = network.history(symbol, timeframe, start, end) if end > start else None
        rows = (
            []
            if series is None
            else [
                [int(t), float(o), float(h), float(lo), float(c), float(v)]
                for t, o, h, lo, c, v in zip(
                    series.open_time,
                    series.open,
                    series.high,
                    series.low,
                    series.close,
                    series.volume,
                    strict=True,
                )
            ]
        )
        return JSONResponse({"symbol": symbol, "timeframe": timeframe.value, "candles": rows})

    return Starlette(
        routes=[
            Route(SIM_CLOCK_PATH, clock_endpoint, methods=["GET"]),
            Route(SIM_CANDLES_PATH, candles_endpoint, methods=["GET"]),
            Route(SIM_FUND_PATH, fund_endpoint, methods=["POST"]),
            Mount("", app=network.jupiter_app(congestion)),
        ]
    )


# The real seconds a standard client's blockhash should stay valid: web3.js and wallets wait a
# second or two between fetching one and sending, mainnet gives about 60.
CLIENT_BLOCKHASH_SECONDS = 60.0


def blockhash_window(speed: float) -> float:
    """How long a fresh blockhash stays valid, in real seconds, at `speed`."""
    return VALIDITY_BLOCKS * SLOT_SECONDS / speed


MAX_FUND_ATOMS = 10**18  # far below u64's limit, far above what a test needs


def _funding(network: SimNetwork, body: Any) -> tuple[Pubkey, str, Decimal]:
    """The faucet request's address, token and amount; `ValueError` naming what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("send a JSON object: {address, token, amount}")
    try:
        address = Pubkey.from_string(str(body["address"]))
    except ValueError:
        raise ValueError(f"address {str(body['address'])[:60]!r} is not a base58 address") from None
    symbol = str(body.get("token", "SOL")).upper()
    if symbol != "SOL":
        try:
            symbol = network.token(symbol).symbol
        except KeyError:
            known = ", ".join(t.symbol for t in network.tokens)
            raise ValueError(f"the sim trades no token {symbol[:20]!r}; it has {known}") from None
    try:
        amount = Decimal(str(body["amount"]))
    except InvalidOperation:
        raise ValueError(f"amount {str(body['amount'])[:40]!r} is not a number") from None
    decimals = 9 if symbol == "SOL" else network.token(symbol).decimals
    if not amount.is_finite() or amount <= 0 or amount.scaleb(decimals) >= MAX_FUND_ATOMS:
        raise ValueError(f"amount must be above 0 and below {MAX_FUND_ATOMS:,} atoms")
    if amount.scaleb(decimals) != amount.scaleb(decimals).to_integral_value():
        raise ValueError(f"{symbol} has {decimals} decimals; {amount} has more")
    return address, symbol, amount


def _speed(network: SimNetwork) -> float:
    clock = network.clock
    return clock.speed if isinstance(clock, ScaledClock) else 1.0


def _banner(
    cfg: Settings,
    network: SimNetwork,
    rpc_url: str,
    ws_url: str,
    jupiter_url: str,
    speed: float,
    faults: Faults,
    existed: bool,
) -> None:
    """What to connect to, and with which key. The key is printed on purpose: it is the sim's
    test wallet, derived from the seed, holding only sim money (solana-test-validator prints its
    known keys the same way)."""
    console = Console(highlight=False, soft_wrap=True)
    wallet: Keypair = network.wallet
    owner = wallet.pubkey()
    usdc = network.token("USDC")
    sol = network.ledger.balance(owner) / LAMPORTS_PER_SOL
    cash = network.ledger.token_balance(owner, Pubkey.from_string(usdc.mint)) / 10**usdc.decimals
    world = "continued" if existed else "new world"
    secret = str(wallet)
    console.print(
        f"[bold]solbot sim network[/] · {speed:g}x speed · seed {network.seed} · {world} · "
        f"state in {cfg.sim_state_path}"
    )
    console.print(f"  JSON-RPC     {rpc_url}  (websockets {ws_url})")
    console.print(
        f"  Jupiter API  {jupiter_url}  (Swap v1/v2, Price v3; sim clock {SIM_CLOCK_PATH})"
    )
    window = blockhash_window(speed)
    if window < CLIENT_BLOCKHASH_SECONDS:
        console.print(
            f"  [yellow]note[/]         a blockhash lives {VALIDITY_BLOCKS} blocks = "
            f"{window:.2g} real seconds at {speed:g}x; clients that wait a second or two between "
            f"fetching one and sending (web3.js, wallets) need --speed "
            f"{VALIDITY_BLOCKS * SLOT_SECONDS / CLIENT_BLOCKHASH_SECONDS:g} or less"
        )
    if faults.drop_rate or faults.error_rate or faults.latency:
        console.print(
            f"  faults       {faults.drop_rate:.0%} of sends dropped, {faults.error_rate:.0%} of "
            f"calls answered 503, +{faults.latency:g} s per answer"
        )
    for token in network.tokens:
        console.print(f"  mint {token.symbol:<7} {token.mint}  ({token.decimals} decimals)")
    console.print(
        f"  faucet       POST {jupiter_url}{SIM_FUND_PATH} {{address, token, amount}}, or "
        "`solbot sim fund ADDRESS --token USDC --amount 100`"
    )
    console.print(f"  test wallet  {owner}  ({sol:,.4f} SOL, {cash:,.2f} USDC)")
    console.print(f"  secret key   {secret}")
    console.print(
        "  [yellow]sim-only key holding sim-only money[/], derived from the seed like "
        "solana-test-validator's known keys: anyone can derive it, never use it on a real network."
    )
    console.print("Point the bot at it (in another terminal):")
    console.print(
        f"SOLBOT_RPC_URL={rpc_url} SOLBOT_JUPITER_URL={jupiter_url} "
        f"WALLET_PRIVATE_KEY={secret} solbot run",
        markup=False,
    )
    console.print(f"[dim]Ctrl-C stops and saves · started {time.strftime('%H:%M:%S')}[/]")
    sys.stdout.flush()
