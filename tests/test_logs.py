"""Log lines are JSON objects with time, level, logger and message (and the error, if any), and
the bot's time when it runs on a simulated clock; the file is private, and a rotated file is
reopened (logrotate without copytruncate: on its own, and on SIGHUP)."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
from pathlib import Path

from solbot.clock import ManualClock, WallClock
from solbot.logs import log_to_file, reopen_on_hangup, use_bot_clock


def test_log_lines_are_json(tmp_path):
    path = tmp_path / "logs" / "solbot.log"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        log_to_file(path)
        logging.getLogger("solbot.test").info("order %s confirmed", "abc")
        try:
            raise ValueError("no route")
        except ValueError:
            logging.getLogger("solbot.test").exception("quote failed")
        logging.getLogger("httpx").info("HTTP Request: GET ...")  # quiet unless verbose
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["message"] for line in lines] == ["order abc confirmed", "quote failed"]
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "solbot.test"
    assert lines[0]["time"].endswith("+00:00")
    assert lines[1]["error"] == "ValueError: no route"


def lines_of(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_log_file_is_created_private_whatever_the_umask(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    path = tmp_path / "world" / "solbot.log"
    old = os.umask(0o022)
    try:
        log_to_file(path)
    finally:
        os.umask(old)
    logging.getLogger("solbot.test").info("hello")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rotated_log_is_reopened_on_sighup_and_the_new_file_is_private(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    path = tmp_path / "solbot.log"
    log_to_file(path)
    reopen_on_hangup()
    log = logging.getLogger("solbot.test")
    log.info("before")
    rotated = path.rename(tmp_path / "solbot.log.1")  # what logrotate does (no copytruncate)
    log.info("after the rename")  # the handler sees the file is gone and opens a new one
    os.kill(os.getpid(), signal.SIGHUP)  # logrotate's postrotate: `kill -HUP <pid>`
    log.info("after")
    for handler in root_logger.handlers:
        handler.flush()
    assert [line["message"] for line in lines_of(rotated)] == ["before"]
    assert [line["message"] for line in lines_of(path)] == [
        "after the rename",
        "after",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sighup_reopens_even_a_file_replaced_in_place(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    """A file truncated or swapped keeping its inode is not noticed by a stat: SIGHUP is the
    operator's way to make the bot open its log again."""
    path = tmp_path / "solbot.log"
    log_to_file(path)
    reopen_on_hangup()
    log = logging.getLogger("solbot.test")
    log.info("one")
    (handler,) = root_logger.handlers
    before = handler.stream  # type: ignore[attr-defined]
    os.kill(os.getpid(), signal.SIGHUP)
    log.info("two")
    assert handler.stream is not before  # type: ignore[attr-defined]
    assert before.closed
    assert [line["message"] for line in lines_of(path)] == ["one", "two"]


def test_log_lines_carry_the_bots_time_when_it_is_not_the_wall_clock(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    path = tmp_path / "solbot.log"
    log_to_file(path)
    log = logging.getLogger("solbot.test")
    log.info("wall only")
    use_bot_clock(ManualClock(1_800_000_000.25))  # a simulated clock, years ahead
    log.info("simulated")
    use_bot_clock(WallClock())
    log.info("the wall again")
    first, second, third = lines_of(path)
    assert "bot_time" not in first
    assert second["bot_time"] == "2027-01-15T08:00:00.250+00:00"
    assert second["time"] != second["bot_time"]
    assert "bot_time" not in third
