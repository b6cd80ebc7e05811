"""The actions: a user's own pause, resume, risk tier and closing a position; the operator's
also for everyone. Each goes through the service the CLI and Telegram call (so it is audited
under the caller's name, `web:<user>` or `web:operator:<token>`), and a browser's must carry
its CSRF value. There is no export and no withdrawal here: those stay in Telegram, behind the
second factor."""

from __future__ import annotations

from fastapi import APIRouter

from solbot.group_admin import GroupAdmin
from solbot.services.closing import request_close
from solbot.services.custody import RiskChange
from solbot.store.states import RiskTier
from solbot.web import models
from solbot.web.auth import Actor, Services, operator_only, user_for

router = APIRouter(prefix="/api/v1", tags=["act"])
WEB_PAUSE = "paused from the dashboard"


@router.post("/users/{username}/pause", response_model=models.Done, summary="Pause entries")
async def pause(username: str, who: Actor, web: Services) -> models.Done:
    """No new positions; open ones are still managed."""
    user = await user_for(web, who, username)
    paused = await web.custody.pause(user.username, actor=who.actor, reason=WEB_PAUSE)
    return models.Done(
        changed=paused.changed, message="paused" if paused.changed else "already paused"
    )


@router.post("/users/{username}/resume", response_model=models.Done, summary="Resume trading")
async def resume(username: str, who: Actor, web: Services) -> models.Done:
    user = await user_for(web, who, username)
    changed = await web.custody.set_active(user.username, True, actor=who.actor)
    return models.Done(changed=changed, message="resumed" if changed else "not paused")


@router.put("/users/{username}/risk", response_model=models.Done, summary="Choose the risk tier")
async def risk(
    username: str, body: models.RiskTierChange, who: Actor, web: Services
) -> models.Done:
    user = await user_for(web, who, username)
    before = user.risk_tier
    changed = await web.custody.set_risk(
        user.username, RiskChange(tier=RiskTier(body.tier)), actor=who.actor
    )
    return models.Done(
        changed=changed.risk_tier != before, message=f"risk tier is {changed.risk_tier}"
    )


@router.post(
    "/users/{username}/positions/{token}/close",
    response_model=models.Done,
    summary="Sell a position at the next tick",
)
async def close(username: str, token: str, who: Actor, web: Services) -> models.Done:
    """Asked of the running loop (`solbot run`, in any process on this database), which sells
    it at its next tick; the user is told when it is sold."""
    user = await user_for(web, who, username)
    symbol = await request_close(
        web.custody,
        user,
        token,
        actor=who.actor,
        poll_seconds=web.settings.poll_seconds,
        wall=web.wall,
    )
    return models.Done(changed=True, message=f"closing {symbol} at the next tick")


@router.post("/group/pause", response_model=models.Done, summary="Pause everyone (operator)")
async def pause_all(who: Actor, web: Services) -> models.Done:
    operator_only(who)
    names = await GroupAdmin(web.custody).set_all_active(False, actor=who.actor)
    return models.Done(changed=bool(names), message=f"paused {len(names)} user(s)")


@router.post("/group/resume", response_model=models.Done, summary="Resume everyone (operator)")
async def resume_all(who: Actor, web: Services) -> models.Done:
    """Resumes those the operator paused for everyone; a friend who paused stays paused."""
    operator_only(who)
    names = await GroupAdmin(web.custody).set_all_active(True, actor=who.actor)
    return models.Done(changed=bool(names), message=f"resumed {len(names)} user(s)")


@router.put("/group/entries", response_model=models.Done, summary="Stop or allow new entries")
async def entries(body: models.EntriesSwitch, who: Actor, web: Services) -> models.Done:
    """Stopped: no user opens a position (exits go on)."""
    operator_only(who)
    changed = await GroupAdmin(web.custody).set_entries(body.stopped, actor=who.actor)
    state = "stopped" if body.stopped else "allowed"
    return models.Done(changed=changed, message=f"new entries {state}")
