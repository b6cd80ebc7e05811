"""A user's own webhooks, from the dashboard: list, add, test, remove. The operator's (and
everyone's, from a shell) are `solbot webhook ...`.

What is added here posts to the public internet only (`webhooks.public_only`, judged at every
connection): a friend must not make the bot post to this machine or its network. An address
is a secret: it is sealed as it arrives and never answered back (a hint only). Each action is
audited under the caller's name, needs the CSRF value, and the master key (addresses are
stored sealed)."""

from __future__ import annotations

from fastapi import APIRouter

from solbot.errors import UserError
from solbot.web import models
from solbot.web.auth import Actor, Caller, Services, user_for
from solbot.webhooks.formats import HookKind
from solbot.webhooks.outbox import DEAD, PENDING, Outbox
from solbot.webhooks.registry import Webhooks, send_test

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.get("/users/{username}/webhooks", response_model=list[models.Webhook], summary="Webhooks")
async def listed(username: str, who: Caller, web: Services) -> list[models.Webhook]:
    user = await user_for(web, who, username)
    hooks = await Webhooks(web.custody).of_user(user.username)
    owed = await Outbox(web.db, web.wall).counts()
    return [
        models.Webhook(
            name=hook.name,
            kind=hook.kind.value,  # type: ignore[arg-type]
            address=hook.hint,
            events=sorted(hook.events),
            pending=owed.get((hook.id, PENDING), 0),
            failed=owed.get((hook.id, DEAD), 0),
            from_dashboard=hook.public_only,
        )
        for hook in hooks
    ]


@router.post("/users/{username}/webhooks", response_model=models.Done, summary="Add a webhook")
async def add(username: str, body: models.WebhookAdd, who: Actor, web: Services) -> models.Done:
    """Events of this user (entries, exits, breakers, the daily summary) to Discord, Slack or
    a JSON endpoint on the public internet."""
    user = await user_for(web, who, username)
    hook = await Webhooks(web.custody).add(
        body.name,
        body.url,
        actor=who.actor,
        username=user.username,
        kind=HookKind(body.kind) if body.kind else None,
        events=",".join(body.events) if body.events else None,
    )
    return models.Done(changed=True, message=f"webhook {hook.name!r} added ({hook.hint})")


@router.post(
    "/users/{username}/webhooks/{name}/test",
    response_model=models.Done,
    summary="Send a test message now",
)
async def test(username: str, name: str, who: Actor, web: Services) -> models.Done:
    user = await user_for(web, who, username)
    hooks = {hook.name: hook for hook in await Webhooks(web.custody).of_user(user.username)}
    hook = hooks.get(name)
    if hook is None:
        raise UserError(f"no webhook named {name!r}")
    answer = await send_test(
        web.custody, hook, web.settings.world.name, public_only=not who.is_operator
    )
    said = "took the test message" if answer.delivered else f"did not: {answer.error}"
    return models.Done(changed=answer.delivered, message=f"webhook {name!r} {said}")


@router.delete(
    "/users/{username}/webhooks/{name}", response_model=models.Done, summary="Remove a webhook"
)
async def remove(username: str, name: str, who: Actor, web: Services) -> models.Done:
    user = await user_for(web, who, username)
    await Webhooks(web.custody).remove(name, actor=who.actor, username=user.username)
    return models.Done(changed=True, message=f"webhook {name!r} removed")
