"""The sim's crash injection, `SOLBOT_SIM_CRASH_AFTER`, for every journaled money path.

`SOLBOT_SIM_CRASH_AFTER=<state>` (an order's state: created, quoted, signed, sent, confirmed,
failed, expired; `order:<state>` says the same), `withdrawal:<state>` or `fee_sweep:<state>`
(created, signed, sent, confirmed, failed, expired) makes the process kill itself with SIGKILL
right after the journal records that state for the first time, on the sim network only; on
devnet and mainnet the variable is ignored. SIGKILL, not an exception: nothing runs after it
(no `finally`, no flush, no rollback), which is what a power cut or the OOM killer does, so the
restart sees exactly what the journal had committed at that instant. The crash-safety tests use
it.

One mechanism for every path: each journal takes an `on_step(row)` hook called after each
committed step, and `crash_hook(settings, *kinds)` gives the hook for those kinds (None when
the variable is unset or names another kind). The transfer journals share one hook (their
recovery runs both), so the hook also checks the row's table.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from solbot.config import Settings
from solbot.errors import UserError
from solbot.store.states import OrderState, WithdrawalState

log = logging.getLogger(__name__)

CRASH_AFTER_ENV = "SOLBOT_SIM_CRASH_AFTER"
Kind = Literal["order", "withdrawal", "fee_sweep", "account_close"]
STATES: dict[str, type[StrEnum]] = {
    "order": OrderState,
    "withdrawal": WithdrawalState,
    "fee_sweep": WithdrawalState,  # a fee sweep is a transfer like a withdrawal
    "account_close": WithdrawalState,  # and so is closing empty token accounts
}
TABLES = {
    "order": "orders",
    "withdrawal": "withdrawals",
    "fee_sweep": "fee_sweeps",
    "account_close": "account_closes",
}


def crash_hook(settings: Settings, *kinds: Kind) -> Callable[[Any], None] | None:
    """An `on_step` hook that SIGKILLs this process once a row of the kind the variable names
    (an `OrderRow`, `WithdrawalRow`, `FeeSweepRow` or `AccountCloseRow`) reaches the state it
    names; None when it names none of `kinds`. A value naming no known state is a one-line
    `UserError` whatever `kinds` ask."""
    value = os.environ.get(CRASH_AFTER_ENV, "").strip().lower()
    if not value:
        return None
    if settings.network != "sim":
        log.warning("%s is a sim fault injection; ignored on %s", CRASH_AFTER_ENV, settings.network)
        return None
    named, _, state = value.rpartition(":")
    named = named or "order"
    states = STATES.get(named)
    if states is None or state not in {s.value for s in states}:
        choices = "; ".join(
            f"{'' if k == 'order' else k + ':'}{{{','.join(s.value for s in v)}}}"
            for k, v in STATES.items()
        )
        raise UserError(f"{CRASH_AFTER_ENV}={value!r}: use one of {choices}")
    if named not in kinds:
        return None
    table = TABLES[named]

    def crash(row: Any) -> None:
        if row.state == state and getattr(row, "__tablename__", table) == table:
            log.warning("%s=%s: %s %s journaled; SIGKILL", CRASH_AFTER_ENV, value, named, row.id)
            os.kill(os.getpid(), signal.SIGKILL)

    return crash
