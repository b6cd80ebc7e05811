"""The simulated Solana network: LiteSVM (the real runtime), a market maker, and its servers."""
