"""solbot: a self-hosted, multi-user swing-trading bot for Solana tokens."""

__version__ = "0.1.0"
