"""Backtesting: the live trading rules run over stored candles in one compiled pass."""
