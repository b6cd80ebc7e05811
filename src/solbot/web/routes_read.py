"""The reads: status, users (the operator's), and a user's positions, trades and equity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from solbot.store.states import Custody
from solbot.store.users import Users
from solbot.web import models, queries
from solbot.web.auth import Caller, Services, operator_only, user_for

router = APIRouter(prefix="/api/v1", tags=["read"])


@router.get("/status", response_model=models.Status, summary="The bot at a glance")
async def status(who: Caller, web: Services) -> models.Status:
    """World, network and mode, the operator's entry switch, the loop's counters (inside
    `solbot run`), and each visible user's state and breaker."""
    return await queries.status(web, who)


@router.get("/users", response_model=list[models.UserDetail], summary="Every user (operator)")
async def users(who: Caller, web: Services) -> list[models.UserDetail]:
    operator_only(who)
    async with web.db.session(read_only=True) as s:
        rows = await Users(s, web.clock).all(custody=Custody.VAULT)
    return await queries.user_details(web, rows)


@router.get("/users/{username}", response_model=models.UserDetail, summary="One user")
async def user(username: str, who: Caller, web: Services) -> models.UserDetail:
    (detail,) = await queries.user_details(web, [await user_for(web, who, username)])
    return detail


@router.get(
    "/users/{username}/balances",
    response_model=models.Balances,
    summary="Cash at the last mark and the open positions' tokens",
)
async def balances(username: str, who: Caller, web: Services) -> models.Balances:
    return await queries.balances(web, await user_for(web, who, username))


@router.get(
    "/users/{username}/positions", response_model=list[models.Position], summary="Open positions"
)
async def positions(username: str, who: Caller, web: Services) -> list[models.Position]:
    return await queries.positions(web, await user_for(web, who, username))


@router.get(
    "/users/{username}/overview",
    response_model=models.Overview,
    summary="A user's state, open positions and equity curve, in one answer",
)
async def overview(
    username: str,
    who: Caller,
    web: Services,
    days: Annotated[float, Query(gt=0, le=3650, description="the equity's last N days")] = 30,
) -> models.Overview:
    return await queries.overview(web, await user_for(web, who, username), days)


Token = Annotated[str | None, Query(max_length=32, description="one token's trades")]
Side = Annotated[Literal["buy", "sell"] | None, Query()]
Since = Annotated[datetime | None, Query(description="from this time (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="before this time (ISO 8601)")]
Result = Annotated[Literal["win", "loss"] | None, Query(description="closing trades only")]
Sort = Annotated[queries.SortKey, Query()]
Order = Annotated[Literal["asc", "desc"], Query()]


def trade_filter(
    token: Token = None,
    side: Side = None,
    since: Since = None,
    until: Until = None,
    result: Result = None,
    sort: Sort = "timestamp",
    order: Order = "desc",
) -> queries.TradeFilter:
    """The trades' filters and order, as the list and its CSV both take them."""
    return queries.TradeFilter(token, side, since, until, result, sort, order == "desc")


Filter = Annotated[queries.TradeFilter, Depends(trade_filter)]


@router.get("/users/{username}/trades", response_model=models.TradePage, summary="Trades")
async def trades(
    username: str,
    who: Caller,
    web: Services,
    wanted: Filter,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> models.TradePage:
    """Filtered, sorted and paged; `total` counts every match."""
    return await queries.trades(web, await user_for(web, who, username), wanted, offset, limit)


@router.get(
    "/users/{username}/trades.csv",
    response_class=StreamingResponse,
    summary="Trades as CSV (the same filters, every match)",
)
async def trades_csv(
    username: str, who: Caller, web: Services, wanted: Filter
) -> StreamingResponse:
    user = await user_for(web, who, username)
    lines = await queries.trades_csv(web, user, wanted)
    name = f"solbot-{user.username}-trades.csv"
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/users/{username}/equity", response_model=models.Equity, summary="Equity curve")
async def equity(
    username: str,
    who: Caller,
    web: Services,
    days: Annotated[float | None, Query(gt=0, le=3650, description="the last N days")] = None,
) -> models.Equity:
    user = await user_for(web, who, username)
    return await queries.equity(web, user, queries.since_days(web, days))


@router.get(
    "/users/{username}/chart/{token}",
    response_model=models.Chart,
    response_model_by_alias=True,
    summary="A token's candles with the user's entries and exits",
)
async def chart(
    username: str,
    token: str,
    who: Caller,
    web: Services,
    days: Annotated[float, Query(gt=0, le=90, description="the last N days")] = 7,
) -> models.Chart:
    user = await user_for(web, who, username)
    return await queries.chart(web, user, token, days)
