"""Loading strategies by built-in name or dotted path, and listing them."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from solbot.config import Settings
from solbot.errors import UserError
from solbot.strategy import load_strategy
from solbot.strategy.base import Strategy
from solbot.strategy.donchian_breakout import DonchianBreakout
from solbot.strategy.ema_trend import EmaTrend
from solbot.strategy.registry import BUILTINS, DEFAULT_STRATEGY, list_strategies

from . import user_strategies
from .user_strategies import SmaCross

UNKNOWN = (
    "unknown strategy 'nope'; built-ins: donchian_breakout, ema_trend; "
    "or your own class as mypkg.mystrat:MyStrategy or path/to/file.py:MyStrategy"
)


def test_builtins_by_name():
    assert isinstance(load_strategy("ema_trend", {}), EmaTrend)
    assert isinstance(load_strategy("donchian_breakout", {"entry_period": 55}), DonchianBreakout)
    assert load_strategy("donchian_breakout", {"entry_period": 55}).params.entry_period == 55
    assert list(BUILTINS) == ["donchian_breakout", "ema_trend"]


def test_the_configured_default_is_a_builtin():
    assert DEFAULT_STRATEGY == "ema_trend"
    assert Settings.model_fields["strategy"].default == DEFAULT_STRATEGY


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_round_trips_through_its_name(name: str):
    strategy = load_strategy(name, {})
    assert strategy.name == name
    assert type(load_strategy(strategy.name, {})) is type(strategy)


def test_unknown_name():
    with pytest.raises(UserError) as info:
        load_strategy("nope", {})
    assert str(info.value) == UNKNOWN


@pytest.mark.parametrize("separator", [":", "."])
def test_user_strategy_by_dotted_path(separator: str):
    path = f"{user_strategies.__name__}{separator}SmaCross"
    strategy = load_strategy(path, {"period": 7})
    assert isinstance(strategy, SmaCross)
    assert strategy.params.period == 7
    # the default name of a user class is a path the loader accepts
    assert type(load_strategy(strategy.name, {})) is SmaCross


def test_user_strategy_from_a_module_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "mystrats"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "momentum.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from solbot.domain import Signals
            from solbot.strategy.base import Strategy


            class Momentum(Strategy):
                @property
                def warmup(self):
                    return 1

                def compute(self, series):
                    up = np.r_[False, series.close[1:] > series.close[:-1]]
                    nan = np.full(len(series), np.nan)
                    return Signals(up, ~up, nan, nan)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mystrats", raising=False)
    monkeypatch.delitem(sys.modules, "mystrats.momentum", raising=False)
    try:
        strategy = load_strategy("mystrats.momentum:Momentum", {})
        assert isinstance(strategy, Strategy)
        assert strategy.name == "mystrats.momentum:Momentum"
    finally:
        sys.modules.pop("mystrats.momentum", None)
        sys.modules.pop("mystrats", None)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_pkg_xyz.mod:Cls", "cannot import strategy 'no_such_pkg_xyz.mod:Cls': No module"),
        (f"{user_strategies.__name__}:Missing", "has no 'Missing'"),
        (f"{user_strategies.__name__}:NotAStrategy", "is not a Strategy subclass"),
        (f"{user_strategies.__name__}:np", "is not a Strategy subclass"),
        (f"{user_strategies.__name__}:Unfinished", "is abstract: it does not implement compute"),
        (":SmaCross", "unknown strategy ':SmaCross'"),
        ("mypkg.", "unknown strategy 'mypkg.'"),
    ],
)
def test_bad_dotted_paths_are_user_errors(path: str, message: str):
    with pytest.raises(UserError) as info:
        load_strategy(path, {})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_parameters_of_a_loaded_strategy():
    with pytest.raises(UserError, match="strategy ema_trend: fast \\(40\\) must be less"):
        load_strategy("ema_trend", {"fast": 40})
    with pytest.raises(UserError, match="unknown parameter 'x'"):
        load_strategy(f"{user_strategies.__name__}:SmaCross", {"x": 1})


def test_list_strategies_shows_params_and_defaults():
    infos = {info.name: info for info in list_strategies()}
    assert list(infos) == ["donchian_breakout", "ema_trend"]
    ema = {p.name: p for p in infos["ema_trend"].params}
    assert [ema[k].default for k in ("fast", "slow", "rsi_period", "rsi_min", "rsi_max")] == [
        12,
        26,
        14,
        50.0,
        70.0,
    ]
    assert ema["rsi_exit"].default is None
    assert (ema["atr_period"].default, ema["atr_stop"].default, ema["atr_target"].default) == (
        14,
        2.0,
        4.0,
    )
    assert ema["fast"].type == "int"
    assert ema["fast"].description
    donchian = {p.name: p.default for p in infos["donchian_breakout"].params}
    assert donchian == {
        "entry_period": 20,
        "exit_period": 10,
        "atr_period": 14,
        "atr_stop": 2.0,
        "atr_target": 0.0,
    }
    assert all(info.summary for info in infos.values())


FILE_STRATEGY = """
import numpy as np
from helper_beside_it import FAST  # a helper module next to the file

from solbot.domain import Signals
from solbot.strategy.base import Strategy, StrategyParams


class Params(StrategyParams):
    period: int = FAST


class CloseAboveOpen(Strategy):
    Params = Params

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series):
        n = len(series)
        return Signals(series.close > series.open, np.zeros(n, dtype=bool),
                       np.full(n, np.nan), np.full(n, np.nan))
"""


def test_a_strategy_file_loads_where_it_lies_without_pythonpath(tmp_path) -> None:
    folder = tmp_path / "my strategies"
    folder.mkdir()
    (folder / "helper_beside_it.py").write_text("FAST = 7\n")
    path = folder / "close_above_open.py"
    path.write_text(FILE_STRATEGY)

    strategy = load_strategy(f"{path}:CloseAboveOpen", {"period": 9})

    assert strategy.params.period == 9
    assert strategy.name == f"{path}:CloseAboveOpen"  # what the user typed, in every report
    assert load_strategy(f"{path}:CloseAboveOpen").params.period == 7
    assert str(folder) not in sys.path  # importable only while the file loads


@pytest.mark.parametrize(
    ("text", "spec", "says"),
    [
        (None, "{path}:X", "there is no file"),
        ("def broken(:\n", "{path}:X", ":1: invalid syntax"),
        ("raise RuntimeError('no data')\n", "{path}:X", "loading it raised RuntimeError: no data"),
        ("X = 1\n", "{path}:Y", "has no 'Y'"),
        ("X = 1\n", "{path}:X", "is not a Strategy subclass"),
        ("X = 1\n", "{path}:", "name the class after the file"),
    ],
)
def test_a_bad_strategy_file_is_one_line(tmp_path, text, spec, says) -> None:
    path = tmp_path / f"s{abs(hash((text, spec))) % 10_000}.py"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError) as err:
        load_strategy(spec.format(path=path))
    assert says in str(err.value)
    assert "\n" not in str(err.value)
