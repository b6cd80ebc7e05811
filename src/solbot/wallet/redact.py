"""Finding and masking secrets in text: the last line of defence for logs and output.

Secrets reach text by accident: `str(solders.Keypair)` is the whole base58 secret, so an
f-string or a `%s` in a log call publishes it. The types that hold secrets print redacted
(`SigningKey`, `VaultSigner`, `RevealedKey`, `MasterKey`); this module catches what slips past
them anyway. It recognises:

- a 64-byte Solana secret key in base58 (what Phantom exports), as a JSON array of 64 numbers
  (the Solana CLI key file), or as 128 hex characters: recognised *as a keypair*, i.e. its last
  32 bytes are the public key of its first 32, so transaction signatures (also 64 bytes of
  base58) are left alone;
- 64 hex characters (a master key or a raw seed): always masked; solbot never logs hashes in hex;
- the dashboard's sign-in secrets (`solbot.web.secrets`: an operator's API token, a one-time
  link), which carry a prefix so they can be recognised;
- secrets this process was given that have no shape of their own (`register`: a webhook's
  address carries its endpoint's token), masked wherever they appear, a library's log line
  (httpx logs every request's address) or an endpoint's answer included.
"""

from __future__ import annotations

import json
import logging
import re

from solders.keypair import Keypair

MASK = "<redacted secret>"

_BASE58 = re.compile(
    r"(?<![1-9A-HJ-NP-Za-km-z])[1-9A-HJ-NP-Za-km-z]{85,90}(?![1-9A-HJ-NP-Za-km-z])"
)
_HEX128 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{128}(?![0-9a-fA-F])")
_HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_WEB = re.compile(r"solbot_(?:op|ln)_[A-Za-z0-9_-]{20,}")
_ARRAY = re.compile(r"\[\s*\d{1,3}(?:\s*,\s*\d{1,3}){63}\s*\]")


def is_keypair_bytes(raw: bytes) -> bool:
    """True when `raw` is a 64-byte ed25519 secret (seed, then its own public key); solders
    checks that the halves belong together."""
    if len(raw) != 64:
        return False
    try:
        Keypair.from_bytes(raw)
    except ValueError:
        return False
    return True


def _base58_secret(match: re.Match[str]) -> str:
    try:
        Keypair.from_base58_string(match.group(0))
    except ValueError:
        return match.group(0)
    return MASK


def _hex_secret(match: re.Match[str]) -> str:
    return MASK if is_keypair_bytes(bytes.fromhex(match.group(0))) else match.group(0)


def _array_secret(match: re.Match[str]) -> str:
    try:
        values = json.loads(match.group(0))
        raw = bytes(values)
    except (ValueError, TypeError):
        return match.group(0)
    return MASK if is_keypair_bytes(raw) else match.group(0)


_REGISTERED: list[str] = []  # longest first, so a secret's parts never mask it piecemeal
REGISTER_MIN = 8  # shorter values would mask ordinary words


def register(*secrets: str) -> None:
    """Mask these exact values from now on, in this process (those of `REGISTER_MIN`
    characters or more)."""
    for secret in secrets:
        if len(secret) >= REGISTER_MIN and secret not in _REGISTERED:
            _REGISTERED.append(secret)
    _REGISTERED.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every secret-shaped value replaced by a mask."""
    for secret in _REGISTERED:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _BASE58.sub(_base58_secret, text)
    text = _HEX128.sub(_hex_secret, text)
    text = _HEX64.sub(MASK, text)
    text = _WEB.sub(MASK, text)
    return _ARRAY.sub(_array_secret, text)


def contains_secret(text: str) -> bool:
    return redact(text) != text


class RedactSecrets(logging.Filter):
    """A logging filter that masks secrets in the message, its arguments and its exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = str(exc)
            if redact(text) != text:
                # The traceback would print the exception's text: replace the exception.
                record.exc_info = (record.exc_info[0], RuntimeError(redact(text)), None)
                record.exc_text = None
        return True
