"""The funding notices: once per change, with a margin so that prices moving around the
minimum do not send a message each way."""

from __future__ import annotations

from unittest.mock import MagicMock

from solbot.accounts import Account, funding_notice


def account() -> Account:
    signer = MagicMock()
    signer.pubkey.return_value = "WALLET"
    return Account(user_id="u1", signer=signer, gate=MagicMock())


def test_a_new_wallet_is_asked_once_and_told_once_when_funded() -> None:
    a = account()
    kinds = [funding_notice(a, v, 10.0, "USDC") for v in (0, 0, 5, 12, 12, 9.5, 10.5, 8.9, 8)]
    said = [(k[0] if k else None) for k in kinds]
    # asked to deposit once; funded once; a dip to 9.5 (above 90 %) says nothing; 8.9 does
    assert said == [
        "unfunded", None, None, "funded", None, None, None, "unfunded", None,
    ]  # fmt: skip
    assert kinds[3] is not None
    assert kinds[3][1].startswith("your wallet now holds 12.00 USDC, enough to trade")
