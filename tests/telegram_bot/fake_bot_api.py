"""A Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot `Application`.

It speaks the Bot API's HTTP shapes (https://core.telegram.org/bots/api): every method is
`POST /bot<token>/<method>`, parameters come form-encoded (complex values as JSON strings, as
python-telegram-bot sends them) or as multipart with files, and every answer is
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`. It
serves `getMe`, `deleteWebhook`, `getUpdates` (long polling, with `offset` confirming what was
delivered) and records what the bot sends: `sendMessage`, `sendPhoto`, `deleteMessage`,
`answerCallbackQuery`, `editMessageText`, `editMessageReplyMarkup`, `setMyCommands`.

Tests make users speak (`say`: a text message, a command entity when it starts with `/`) and
press inline buttons (`press`), then wait for what the bot sent (`wait_for`).

`deleteMessage` behaves as Telegram's: a message that does not exist (never sent, or deleted
already) answers 400 "message to delete not found"; one the bot may no longer delete (older than
48 hours: `too_old`) answers 400 "message can't be deleted". `down[method] = n` makes the next
`n` calls of a method answer 502 Bad Gateway, as during an outage of the Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from local_http import QuietHandler, Scripted, loopback_server, send_answer

TOKEN = "123456:TEST-token-for-the-local-bot-api"
BOT_ID = 123456
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "solbot", "username": "solbot_test_bot"}
NOW = 1_800_000_000  # message dates: the fake does not care what time it is


@dataclass
class Sent:
    """One call the bot made, with its parameters (JSON values decoded) and files."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return None if value is None else int(value)

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of every inline button."""
        markup = self.params.get("reply_markup") or {}
        return [
            (b["text"], b.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


class FakeBotApi:
    def __init__(self) -> None:
        self.base_url = ""
        self.sent: list[Sent] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1000
        self._lock = threading.Condition()
        self.fail_next: dict[str, Scripted] = {}
        self.down: dict[str, int] = {}  # method → how many more calls fail with 502
        self.calls: dict[str, int] = {}  # method → calls received, refused ones included
        self.too_old: set[int] = set()  # message ids past Telegram's 48 hours
        self._live: set[tuple[int, int]] = set()  # (chat, message id) that exist

    # ------------------------------------------------------------------ the test's side
    def say(
        self,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        forwarded_from: int | None = None,
    ) -> dict[str, Any]:
        """User `user_id` sends `text` (in their private chat, or a group `chat_id`); with
        `forwarded_from`, as a forward of that user's message (Bot API 7: `forward_origin`)."""
        message = self._message(user_id, chat_type, chat_id, text)
        if forwarded_from is not None:
            message["forward_origin"] = {
                "type": "user",
                "sender_user": _user(forwarded_from),
                "date": NOW - 60,
            }
        self._enqueue({"message": message})
        return message

    def edit(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """The sender of `message` edits it to `text` (an `edited_message` update)."""
        edited = {**message, "text": text, "edit_date": NOW + 30}
        edited.pop("entities", None)
        if text.startswith("/"):
            command = text.split()[0]
            edited["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._enqueue({"edited_message": edited})
        return edited

    def press(self, user_id: int, message: dict[str, Any], data: str) -> None:
        """User `user_id` presses the inline button carrying `data` under `message`."""
        with self._lock:
            query_id = str(self._next_update * 7919)
        callback = {
            "id": query_id,
            "from": _user(user_id),
            "message": message,
            "chat_instance": f"ci{user_id}",
            "data": data,
        }
        self._enqueue({"callback_query": callback})

    async def wait_for(
        self, predicate: Callable[[Sent], bool], timeout: float = 10.0, after: int = 0
    ) -> Sent:
        """The first call (from index `after` on) matching `predicate`, waiting up to `timeout`
        without blocking the event loop the bot runs on."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for call in self.sent[after:]:
                    if predicate(call):
                        return call
                seen = "\n".join(f"  {c.method} {c.chat_id}: {c.text[:80]!r}" for c in self.sent)
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot sent nothing matching in {timeout} s:\n{seen}")
            await asyncio.sleep(0.01)

    async def reply_to(self, user_id: int, text: str, **say: Any) -> Sent:
        """Say `text` and wait for the next message the bot sends to that chat."""
        mark = len(self.sent)
        message = self.say(user_id, text, **say)
        chat = message["chat"]["id"]
        return await self.wait_for(
            lambda c: c.method in ("sendMessage", "sendPhoto") and c.chat_id == chat, after=mark
        )

    async def after_press(self, user_id: int, message: dict[str, Any], data: str) -> Sent:
        """Press a button and wait for the next message the bot sends to that user."""
        mark = len(self.sent)
        self.press(user_id, message, data)
        return await self.wait_for(
            lambda c: c.method in ("sendMessage", "sendPhoto") and c.chat_id == user_id,
            after=mark,
        )

    def messages_to(self, chat_id: int) -> list[Sent]:
        with self._lock:
            return [c for c in self.sent if c.chat_id == chat_id and c.method.startswith("send")]

    # ------------------------------------------------------------------ the server's side
    def answer(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Scripted:
        scripted = self.fail_next.pop(method, None)
        if scripted is not None:
            return scripted
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            if self.down.get(method, 0) > 0:
                self.down[method] -= 1
                return _error(502, "Bad Gateway")
        if method == "deleteMessage":
            refused = self._delete(params)
            if refused is not None:
                return refused
        if method == "getUpdates":
            return _ok(self._get_updates(params))
        handler = {
            "getMe": lambda: BOT_USER,
            "deleteWebhook": lambda: True,
            "setMyCommands": lambda: True,
            "sendMessage": lambda: self._sent_message(params, text=params.get("text")),
            "sendPhoto": lambda: self._sent_message(params, photo=True),
            "deleteMessage": lambda: True,
            "answerCallbackQuery": lambda: True,
            "editMessageText": lambda: self._sent_message(params, text=params.get("text")),
            "editMessageReplyMarkup": lambda: True,
        }.get(method)
        if handler is None:
            return Scripted(404, {}, {"ok": False, "error_code": 404, "description": "Not Found"})
        result = handler()
        with self._lock:
            self.sent.append(Sent(method, params, files, result))
            self._lock.notify_all()
        return _ok(result)

    def _delete(self, params: dict[str, Any]) -> Scripted | None:
        """Telegram's refusals of `deleteMessage`, or None when the message goes."""
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._lock:
            if key not in self._live:
                return _error(400, "Bad Request: message to delete not found")
            if key[1] in self.too_old:
                return _error(400, "Bad Request: message can't be deleted")
            self._live.discard(key)
        return None

    async def wait_calls(self, method: str, count: int, timeout: float = 10.0) -> None:
        """Wait until `method` was called `count` times (refused calls count)."""
        deadline = time.monotonic() + timeout
        while self.calls.get(method, 0) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {self.calls.get(method, 0)} times")
            await asyncio.sleep(0.01)

    def exists(self, chat_id: int, message_id: int) -> bool:
        with self._lock:
            return (chat_id, message_id) in self._live

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self._lock:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self._updates)

    def _enqueue(self, update: dict[str, Any]) -> None:
        with self._lock:
            update["update_id"] = self._next_update
            self._next_update += 1
            self._updates.append(update)
            self._lock.notify_all()

    def _message(
        self, user_id: int, chat_type: str, chat_id: int | None, text: str
    ) -> dict[str, Any]:
        with self._lock:
            self._next_message += 1
            message_id = self._next_message
        chat: dict[str, Any] = {"id": chat_id or user_id, "type": chat_type}
        with self._lock:
            self._live.add((chat["id"], message_id))
        if chat_type == "private":
            chat["first_name"] = f"user{user_id}"
        else:
            chat["title"] = "a group"
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": _user(user_id),
            "chat": chat,
            "date": NOW,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return message

    def _sent_message(
        self, params: dict[str, Any], *, text: str | None = None, photo: bool = False
    ) -> dict[str, Any]:
        with self._lock:
            self._next_message += 1
            message_id = int(params.get("message_id") or self._next_message)
            chat_id = int(params["chat_id"])
            self._live.add((chat_id, message_id))
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "date": NOW,
        }
        if text is not None:
            message["text"] = text
        if photo:
            message["photo"] = [
                {
                    "file_id": f"photo{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 800,
                    "height": 500,
                }
            ]
            if params.get("caption"):
                message["caption"] = params["caption"]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        if params.get("protect_content"):
            message["has_protected_content"] = True
        return message


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


def _ok(result: Any) -> Scripted:
    return Scripted(200, {}, {"ok": True, "result": result})


def _error(code: int, description: str) -> Scripted:
    return Scripted(code, {}, {"ok": False, "error_code": code, "description": description})


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _handler(fake: FakeBotApi) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server names it)
            prefix = f"/bot{TOKEN}/"
            if not self.path.startswith(prefix):
                self._reply(
                    Scripted(404, {}, {"ok": False, "error_code": 404, "description": "Not Found"})
                )
                return
            method = self.path[len(prefix) :].split("?")[0]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            params, files = _parse(self.headers.get("Content-Type", ""), body)
            self._reply(fake.answer(method, params, files))

        do_GET = do_POST  # noqa: N815

        def _reply(self, answer: Scripted) -> None:
            # The bot may stop polling while a long poll is open: its answer has nowhere to go.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                send_answer(self, answer)

    return Handler


def _parse(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[str(name)] = payload
            else:
                params[str(name)] = _decode(payload.decode())
        return params, files
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}"), {}
    fields = parse_qs(body.decode(), keep_blank_values=True)
    return {k: _decode(v[0]) for k, v in fields.items()}, {}


@contextmanager
def serve() -> Iterator[FakeBotApi]:
    """A fake Bot API on an ephemeral port of 127.0.0.1 for the duration."""
    fake = FakeBotApi()
    with loopback_server(_handler(fake)) as url:
        fake.base_url = url
        yield fake
