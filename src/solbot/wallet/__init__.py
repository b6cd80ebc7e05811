"""Wallets: keys in memory behind redacting types (the encrypted vault comes with multi-user)."""
