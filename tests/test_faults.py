"""`SOLBOT_SIM_CRASH_AFTER`: one crash hook for both journals, orders and withdrawals."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest

from solbot import faults
from solbot.config import Settings
from solbot.errors import UserError

SIM = Settings(network="sim", tokens=Settings().tokens)


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(faults.os, "kill", lambda _pid, sig: sent.append(sig))
    return sent


@pytest.mark.parametrize(
    ("value", "kind", "state"),
    [
        ("signed", "order", "signed"),
        ("order:quoted", "order", "quoted"),
        ("withdrawal:signed", "withdrawal", "signed"),
        (" Withdrawal:Confirmed ", "withdrawal", "confirmed"),
    ],
)
def test_the_hook_kills_at_the_named_state_of_its_kind_only(
    monkeypatch: pytest.MonkeyPatch, kills: list[int], value: str, kind: str, state: str
) -> None:
    monkeypatch.setenv(faults.CRASH_AFTER_ENV, value)
    other = "order" if kind == "withdrawal" else "withdrawal"
    assert faults.crash_hook(SIM, other) is None  # type: ignore[arg-type]
    hook = faults.crash_hook(SIM, kind)  # type: ignore[arg-type]
    assert hook is not None
    hook(SimpleNamespace(id="x", state="created" if state != "created" else "signed"))
    assert kills == []
    hook(SimpleNamespace(id="x", state=state))
    assert kills == [signal.SIGKILL]


@pytest.mark.parametrize("value", ["withdrawal:quoted", "payout:signed", "signd", "order:"])
def test_a_value_naming_no_state_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(faults.CRASH_AFTER_ENV, value)
    for kind in ("order", "withdrawal"):
        with pytest.raises(UserError, match="use one of") as caught:
            faults.crash_hook(SIM, kind)  # type: ignore[arg-type]
        assert "\n" not in str(caught.value)
        assert "withdrawal:{created,signed,sent,confirmed,failed,expired}" in str(caught.value)


def test_unset_or_off_the_sim_there_is_no_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.CRASH_AFTER_ENV, raising=False)
    assert faults.crash_hook(SIM, "withdrawal") is None
    monkeypatch.setenv(faults.CRASH_AFTER_ENV, "withdrawal:signed")
    devnet = Settings(network="devnet", tokens=Settings().tokens)
    assert faults.crash_hook(devnet, "withdrawal") is None
