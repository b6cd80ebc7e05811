"""Which of the loop's events a webhook can take (grouped, as the operator subscribes), and
the body each kind of endpoint takes: Discord's execute-webhook JSON (`content`, no pings),
Slack's incoming-webhook JSON (`text`), or solbot's own JSON for anything else."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from solbot.events import OPERATOR_ALERTS

DISCORD_LIMIT = 2000  # characters of `content`


class HookKind(StrEnum):
    DISCORD = "discord"
    SLACK = "slack"
    JSON = "json"


# What a webhook subscribes to, and the event kinds in each.
GROUPS: dict[str, frozenset[str]] = {
    "entry": frozenset({"entry"}),
    "exit": frozenset({"exit", "moved_out"}),
    "breaker": frozenset({"breaker"}),
    "summary": frozenset({"summary"}),
    "alert": OPERATOR_ALERTS,
}
USER_GROUPS = ("entry", "exit", "breaker", "summary")  # alerts are the operator's
GROUP_OF = {kind: group for group, kinds in GROUPS.items() for kind in kinds}
ICONS = {"entry": "🟢", "exit": "🔴", "breaker": "⛔", "summary": "📊", "alert": "🚨"}


def kind_of(url: str) -> HookKind:
    """Discord's and Slack's addresses are known by their host; anything else gets JSON."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"):
        return HookKind.DISCORD
    if host == "hooks.slack.com":
        return HookKind.SLACK
    return HookKind.JSON


def body(
    kind: HookKind, event: str, username: str | None, text: str, at: datetime, world: str
) -> dict[str, Any]:
    group = GROUP_OF.get(event, event)
    icon = ICONS.get(group, "•")
    if kind is HookKind.DISCORD:
        who = f"**{_discord_escape(username)}** " if username else ""
        line = f"{icon} {who}{_discord_escape(text)}"
        return {
            "content": line[:DISCORD_LIMIT],
            "username": "solbot",
            "allowed_mentions": {"parse": []},  # never an @everyone from an event's text
        }
    if kind is HookKind.SLACK:
        who = f"*{_slack_escape(username)}* " if username else ""
        return {"text": f"{icon} {who}{_slack_escape(text)}"}
    return {
        "event": event,
        "group": group,
        "user": username,
        "at": at.isoformat(),
        "text": text,
        "world": world,
    }


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup: escaped as its documentation asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _discord_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*_`~|" else c for c in text)
