"""A replay: the whole live loop (feed, candles, strategy, breakers, journal, chain, venue) on
recorded candles instead of the sim's random walk, as fast as the machine runs it.

`solbot run --replay JUP:1h` replays the stored candles of a token (`solbot data download`,
`data import`); `--replay FILE.csv` a CSV of candles whose name starts with the token's symbol
(`JUP.csv`, `jup_1h.csv`), its timeframe the smallest step between its rows. Several replay
together over the span all of them cover.

Decisions:
- **A world of its own.** A replay runs in a fresh folder, `<data dir>/replays/<UTC time>/`,
  with its own database, sim state, built candles and log, so it can never mix with the sim
  world (or any other) and is there to inspect afterwards. It trades only the replayed tokens;
  no Telegram bot, no fee sweeps.
- **Time.** The loop starts once the strategy has its warm-up behind it: the first candle's
  open plus `samples_needed + 2` bars of the trading timeframe (the history before it is built
  from the same path, as the sim builds it), and stops at the last close all sources share. The
  clock moves only when the loop sleeps, so a replay takes as long as its ticks compute.
- **Ticks.** The path inside a candle is a straight line from its open to its close
  (`ReplayPrices`), so a tick every twelfth of a trading bar sees what there is to see; set
  `SOLBOT_POLL_SECONDS` to tick otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from solbot.config import Settings
from solbot.domain import CandleSeries, Timeframe
from solbot.errors import UserError
from solbot.market.csv_import import read_candles_csv
from solbot.market.store import CandleStore
from solbot.private_files import private_dir

TICKS_PER_BAR = 12
WARM_UP_SPARE_BARS = 2  # bars of history past the warm-up, here and in the sim's own world


@dataclass(frozen=True)
class Replay:
    """Recorded candles by token symbol, and the span the loop trades over them."""

    series: dict[str, CandleSeries]
    start: float  # the first tick: the warm-up is history by then
    end: float  # the last close every source has

    @property
    def symbols(self) -> list[str]:
        return list(self.series)

    @classmethod
    def over(
        cls, series: dict[str, CandleSeries], timeframe: Timeframe, warm_up_bars: int
    ) -> Replay:
        """The span all of `series` cover, after a warm-up of `warm_up_bars` bars of
        `timeframe` (`UserError` when nothing is left to trade)."""
        first = max(int(s.open_time[0]) for s in series.values())
        end = min(int(s.open_time[-1]) + s.timeframe.seconds for s in series.values())
        bar = timeframe.seconds
        start = timeframe.floor(first) + bar * (warm_up_bars + WARM_UP_SPARE_BARS)
        if start + bar > end:
            span = (end - first) / bar
            raise UserError(
                f"the replayed candles span {max(span, 0):.0f} bars of {timeframe} together; "
                f"the strategy needs {warm_up_bars + WARM_UP_SPARE_BARS} to warm up and one to "
                "trade: replay a longer span (or a longer overlap of the tokens)"
            )
        return cls(series, float(start), float(end))


def load_replay(
    specs: list[str], settings: Settings, timeframe: Timeframe, warm_up_bars: int
) -> Replay:
    """The candles `specs` name, checked to leave something to trade after a warm-up of
    `warm_up_bars` bars of `timeframe` (each problem one line, `UserError`)."""
    series: dict[str, CandleSeries] = {}
    for spec in specs:
        symbol, candles = _source(spec, settings)
        if symbol in series:
            raise UserError(f"--replay names {symbol} twice; give each token once")
        series[symbol] = candles
    if not series:
        raise UserError("--replay needs TOKEN:TIMEFRAME or FILE.csv")
    return Replay.over(series, timeframe, warm_up_bars)


def _source(spec: str, settings: Settings) -> tuple[str, CandleSeries]:
    """`TOKEN:TIMEFRAME` from the candle store, or a CSV file named after its token."""
    text = spec.strip()
    path = Path(text).expanduser()
    if path.suffix.lower() == ".csv" or path.is_file():
        return _from_file(path, settings)
    token, sep, tf_text = text.partition(":")
    if not sep:
        raise UserError(
            f"--replay {spec!r}: give TOKEN:TIMEFRAME (stored candles, e.g. JUP:1h) or a FILE.csv"
        )
    symbol = _known(settings, token, spec)
    try:
        timeframe = Timeframe.parse(tf_text)
    except ValueError as exc:
        raise UserError(f"--replay {spec}: {exc}") from None
    candles = CandleStore(settings.candles_dir).load(symbol, timeframe)
    if len(candles) == 0:
        raise UserError(
            f"--replay {spec}: no stored {timeframe} candles of {symbol}; fetch them with "
            f"`solbot data download --token {symbol} --timeframe {timeframe}` or "
            "`solbot data import`"
        )
    return symbol, candles


def _from_file(path: Path, settings: Settings) -> tuple[str, CandleSeries]:
    if not path.is_file():
        raise UserError(f"--replay {path}: no such file")
    match = re.match(r"[A-Za-z0-9]+", path.stem)
    symbol = _known(settings, match.group(0) if match else path.stem, str(path))
    candles = read_candles_csv(path, Timeframe.M1)  # every supported width starts a minute
    if len(candles) < 2:
        raise UserError(f"{path}: {len(candles)} candle(s); a replay needs a path")
    step = int(np.diff(candles.open_time).min())
    timeframe = next((tf for tf in Timeframe if tf.seconds == step), None)
    if timeframe is None:
        raise UserError(
            f"{path}: candles {step} s apart; a replay needs one of "
            f"{', '.join(tf.value for tf in Timeframe)}"
        )
    unaligned = np.flatnonzero(candles.open_time % step)
    if len(unaligned):
        when = datetime.fromtimestamp(int(candles.open_time[unaligned[0]]), tz=UTC)
        raise UserError(f"{path}: {when:%Y-%m-%d %H:%M} UTC does not start a {timeframe} candle")
    return symbol, replace(candles, timeframe=timeframe)


def _known(settings: Settings, token: str, spec: str) -> str:
    """The configured token `token` names, which must not be the quote asset."""
    try:
        symbol = settings.token(token).symbol
    except KeyError as exc:
        raise UserError(f"--replay {spec}: {exc.args[0]}") from None
    if symbol == settings.quote:
        raise UserError(f"--replay {spec}: {symbol} is the quote asset, not a traded token")
    return symbol


def replay_settings(settings: Settings, replay: Replay, now: datetime) -> Settings:
    """The settings a replay runs with: a fresh world folder under the data dir's `replays/`,
    the embedded sim, only the replayed tokens, nothing that reaches outside."""
    folder = settings.data_dir / "replays" / f"{now:%Y%m%d-%H%M%S}"
    n = 1
    while folder.exists():  # two replays in one second
        n += 1
        folder = folder.with_name(f"{now:%Y%m%d-%H%M%S}-{n}")
    private_dir(folder)
    changes: dict[str, object] = {
        "data_dir": folder,
        "network": "sim",
        "paper": False,
        "database_url": None,
        "rpc_url": None,
        "jupiter_url": Settings.model_fields["jupiter_url"].default,
        "trade_tokens": replay.symbols,
        "telegram_bot_token": None,
        "fee_wallet": None,
    }
    if "poll_seconds" not in settings.model_fields_set:
        changes["poll_seconds"] = settings.timeframe.seconds / TICKS_PER_BAR
    return settings.model_copy(update=changes)
