"""Log lines are JSON objects with time, level, logger and message (and the error, if any)."""

import json
import logging

from solbot.logs import log_to_file


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
