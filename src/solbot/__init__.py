"""solbot: a self-hosted, multi-user swing-trading bot for Solana tokens."""

import os

__version__ = "0.1.0"

# Arrow (the candle store's Parquet) allocates from the C library's malloc, not from its default
# pool, mimalloc, which kept what a running bot's candle-file rewrites freed (see
# `solbot.market.store`). Arrow reads the choice once, before its first allocation, so it is
# made here, before anything of ours imports pyarrow; an operator's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
