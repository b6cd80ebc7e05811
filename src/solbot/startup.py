"""The start of a run on a network reached over HTTP (a served sim, devnet, mainnet): check
its settings, then reach each service once, within a bounded time, before anything is written.

A wrong URL, a service that is down, a network that is not there: the start stops in one line
naming the setting to check, instead of a loop that retries forever. Once running, an outage
is waited out (ticks are skipped, not the run), see `runner.Runtime`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeVar

import httpx

from solbot.chain.port import ChainUnavailableError
from solbot.chain.retrying import CHAIN_RETRIES, RetryingChain
from solbot.chain.rpc import RpcChain
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.domain import TokenInfo
from solbot.errors import EnvironmentFaultError, UserError
from solbot.execution.jupiter import JupiterClient, VenueError
from solbot.execution.signing import Signer
from solbot.http_retry import RetryPolicy
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.sim.client import remote_sim_clock
from solbot.wallet.keys import load_signing_key

T = TypeVar("T")

FIRST_CONTACT_SECONDS = 10.0  # wall time the start-up gives each service to answer once
FIRST_CONTACT_ATTEMPTS = 2  # tries of that first contact (a refused connection fails at once)
FIRST_CONTACT_RETRY = RetryPolicy(max_attempts=FIRST_CONTACT_ATTEMPTS, backoff=0.5)
RPC_SETTING = "SOLBOT_RPC_URL"
JUPITER_SETTING = "SOLBOT_JUPITER_URL"
KEY_SETTING = "SOLBOT_JUPITER_API_KEY"
# The swap path each route trades through (paper trading quotes with /order).
SWAP_PATHS = {
    "v2": ("/swap/v2/order",),
    "build": ("/swap/v2/build",),
    "v1": ("/swap/v1/quote",),
    "auto": ("/swap/v2/order", "/swap/v2/build"),  # each order may take either
}


@dataclass(frozen=True)
class Remote:
    """The services of a network reached over HTTP (a served sim, devnet, mainnet)."""

    http: httpx.AsyncClient
    clock: Clock
    jupiter: JupiterClient
    rpc: RpcChain | None  # None in paper trading: nothing is sent
    operator: Signer | None


async def reach_services(
    settings: Settings,
    speed: float,
    quote: TokenInfo,
    impact_cap: Decimal,
    clock: Clock | None,
    closers: list[Callable[[], object]],
    probe_mint: str,
) -> Remote:
    """Check the settings of a network reached over HTTP, then reach each of its services
    once, before anything is written: a wrong URL, a service that is down or a network that
    is not there, a missing or refused Jupiter key, a swap path that is gone: the start stops
    in one line naming the setting to check. `probe_mint` is a token to ask a quote for (the
    swap path the run trades through is asked once)."""
    default_jupiter = settings.jupiter_url == Settings.model_fields["jupiter_url"].default
    remote_sim = settings.network == "sim"
    if not settings.rpc and not settings.paper:
        raise UserError("set SOLBOT_RPC_URL for this network")
    if remote_sim and default_jupiter:
        raise UserError(
            "a remote sim needs SOLBOT_JUPITER_URL too: the Jupiter URL `solbot sim serve` "
            "prints (the sim has no business with api.jup.ag)"
        )
    if speed != 1.0:
        where = "`solbot sim serve --speed`" if remote_sim else "the wall clock"
        raise UserError(f"--speed only works on the embedded sim; here {where} sets time")
    operator = None
    if settings.wallet_private_key is not None and not settings.paper:
        operator = load_signing_key(settings.wallet_private_key.get_secret_value())
    http = httpx.AsyncClient(timeout=30.0)
    closers.append(http.aclose)
    rpc = None
    if not settings.paper:
        rpc = RpcChain(settings.rpc)
        closers.append(rpc.close)
    if remote_sim:
        served = remote_sim_clock(http, settings.jupiter_url)
        sim_clock = await reach(f"the sim at {settings.jupiter_url}", JUPITER_SETTING, served)
        clock = clock or sim_clock
    clock = clock or WallClock()
    key = settings.jupiter_api_key.get_secret_value() if settings.jupiter_api_key else None
    venue = functools.partial(
        JupiterClient,
        http,
        clock,
        base_url=settings.jupiter_url,
        api_key=key,
        # The sim's maker has no rate limit; Jupiter's own API has the account's.
        requests_per_second=1_000_000.0 if remote_sim else settings.jupiter_rps,
        max_price_impact_pct=impact_cap,
    )
    jupiter = venue()
    if rpc is not None:
        probe = RetryingChain(
            rpc, clock, replace(CHAIN_RETRIES, max_attempts=FIRST_CONTACT_ATTEMPTS)
        )
        await reach(f"the Solana RPC at {settings.rpc}", RPC_SETTING, probe.block_height())
    probing = venue(limiter=jupiter.limiter, retry=FIRST_CONTACT_RETRY)
    prices = JupiterPriceFeed(probing)
    await reach_jupiter(settings, "/price/v3", prices.snapshot([quote.mint]))
    # A quote of one unit of the quote asset, without a taker: any answer but "no such path"
    # or "not without a key" will do (no route, too small: the path is there).
    probe = {"inputMint": quote.mint, "outputMint": probe_mint, "amount": "1000"}
    for path in SWAP_PATHS["v2" if settings.paper else settings.jupiter_route]:
        status = await reach_jupiter(settings, path, probing.status_of(path, probe))
        refused = jupiter_refusal(settings, path, status)
        if refused is not None:
            raise refused
    return Remote(http, clock, jupiter, rpc, operator)


async def reach_jupiter(settings: Settings, path: str, contact: Awaitable[T]) -> T:
    """`reach` for Jupiter: a refused key or a missing path is said as such."""
    try:
        return await reach(f"Jupiter at {settings.jupiter_url}", JUPITER_SETTING, contact)
    except EnvironmentFaultError as exc:
        cause = exc.__context__
        if isinstance(cause, VenueError) and cause.status is not None:
            refused = jupiter_refusal(settings, path, cause.status)
            if refused is not None:
                raise refused from None
        raise


def jupiter_refusal(settings: Settings, path: str, status: int) -> EnvironmentFaultError | None:
    """The one line for an answer that means the settings are wrong: no key or a refused one
    (401, 403), or a path that is not there (404); None for any other status."""
    where = f"Jupiter at {settings.jupiter_url}"
    if status in (401, 403):
        if settings.jupiter_api_key is None:
            return EnvironmentFaultError(
                f"{where} wants an API key (HTTP {status}): set {KEY_SETTING} (developers.jup.ag)"
            )
        return EnvironmentFaultError(
            f"{where} refused the API key (HTTP {status}): check {KEY_SETTING}"
        )
    if status == 404:
        route = "" if settings.paper else f", or SOLBOT_JUPITER_ROUTE={settings.jupiter_route}"
        return EnvironmentFaultError(
            f"{where} has no {path} (HTTP 404): check {JUPITER_SETTING}{route}"
        )
    return None


def chain_down(settings: Settings, exc: ChainUnavailableError) -> EnvironmentFaultError:
    """The one line for a chain that stopped answering while the run started (after
    `RetryingChain` waited for it): nothing is traded on a chain the bot cannot read."""
    return EnvironmentFaultError(
        f"the Solana RPC at {settings.rpc} stopped answering during the start ({exc}): check "
        f"{RPC_SETTING} and the network; orders left open are finished at the next start"
    )


async def reach(what: str, setting: str, contact: Awaitable[T]) -> T:
    """A first contact with a service at start-up, within `FIRST_CONTACT_SECONDS`. A service
    that cannot be reached now is a setting to check, not a reason to retry forever: one line
    names it. (Once running, an outage is waited out: ticks are skipped, not the run.)"""
    try:
        async with asyncio.timeout(FIRST_CONTACT_SECONDS):
            return await contact
    except TimeoutError:
        raise EnvironmentFaultError(
            f"{what} did not answer within {FIRST_CONTACT_SECONDS:g} s: check {setting} and "
            "the network"
        ) from None
    except (ChainUnavailableError, VenueError) as exc:
        raise EnvironmentFaultError(
            f"cannot use {what} ({exc}): check {setting} and the network"
        ) from None
