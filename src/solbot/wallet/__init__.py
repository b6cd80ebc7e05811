"""Wallets: keys held in memory behind redacting types; the encrypted vault comes with multi-user."""
