"""The chain port and its adapters: LiteSVM in-process, and JSON-RPC (sim, devnet, mainnet)."""
