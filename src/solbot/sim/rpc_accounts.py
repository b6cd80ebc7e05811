"""The sim RPC's account reads (`SimRpc` inherits them): balances, accounts in every
encoding the sim offers (jsonParsed for SPL Token accounts and mints), token balances and
accounts by owner, a mint's supply, rent exemption."""

from __future__ import annotations

from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount
from spl.token.constants import ACCOUNT_LEN, MINT_LEN, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from solbot.sim.ledger import SimLedger
from solbot.sim.rpc_wire import (
    RENT_EXEMPT_RENT_EPOCH,
    config_param,
    context_of,
    encode_data,
    invalid_params,
    optional_key,
    param,
    pubkey_param,
    token_state,
    u64,
    ui_amount,
)


class AccountReads:
    """Needs `ledger`."""

    ledger: SimLedger

    def get_balance(self, params: list[Any]) -> dict[str, Any]:
        owner = pubkey_param(param(params, 0, "pubkey"))
        context = context_of(self.ledger, config_param(params, 1))
        return {"context": context, "value": self.ledger.balance(owner)}

    def get_account_info(self, params: list[Any]) -> dict[str, Any]:
        address = pubkey_param(param(params, 0, "pubkey"))
        config = config_param(params, 1)
        context = context_of(self.ledger, config)
        account = self.ledger.account(address)
        value = None if account is None else self._ui_account(account, config)
        return {"context": context, "value": value}

    def get_multiple_accounts(self, params: list[Any]) -> dict[str, Any]:
        addresses = param(params, 0, "pubkeys")
        if not isinstance(addresses, list) or len(addresses) > 100:
            raise invalid_params("Too many inputs provided; max 100")
        config = config_param(params, 1)
        context = context_of(self.ledger, config)
        values = []
        for text in addresses:
            account = self.ledger.account(pubkey_param(text))
            values.append(None if account is None else self._ui_account(account, config))
        return {"context": context, "value": values}

    def _ui_account(self, account: Account, config: dict[str, Any]) -> dict[str, Any]:
        encoding = config.get("encoding", "binary")
        raw = bytes(account.data)
        data_slice = config.get("dataSlice")
        parsed = self._parsed_data(account) if encoding == "jsonParsed" else None
        if parsed is not None:
            data: Any = parsed
        else:
            if isinstance(data_slice, dict):
                offset = u64(data_slice.get("offset", 0), "offset")
                raw = raw[offset : offset + u64(data_slice.get("length", 0), "length")]
            data = encode_data(raw, encoding)
        return {
            "data": data,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            # Rent collection is gone and every account must be rent-exempt, so validators
            # answer u64::MAX (RENT_EXEMPT_RENT_EPOCH) for every account; LiteSVM keeps 0.
            "rentEpoch": RENT_EXEMPT_RENT_EPOCH,
            "space": len(account.data),
        }

    def _parsed_data(self, account: Account) -> dict[str, Any] | None:
        """jsonParsed for SPL Token accounts and mints; None means: fall back to base64."""
        if account.owner != TOKEN_PROGRAM_ID:
            return None
        data = bytes(account.data)
        if len(data) == MINT_LEN:
            mint = Mint.from_bytes(data)
            info: dict[str, Any] = {
                "decimals": mint.decimals,
                "freezeAuthority": optional_key(mint.freeze_authority),
                "isInitialized": mint.is_initialized,
                "mintAuthority": optional_key(mint.mint_authority),
                "supply": str(mint.supply),
            }
            kind = "mint"
        elif len(data) == ACCOUNT_LEN:
            state = TokenAccount.from_bytes(data)
            mint_account = self.ledger.account(state.mint)
            if mint_account is None or len(mint_account.data) != MINT_LEN:
                return None  # agave cannot parse without the mint's decimals either
            decimals = Mint.from_bytes(bytes(mint_account.data)).decimals
            info = {
                "isNative": state.is_native is not None,
                "mint": str(state.mint),
                "owner": str(state.owner),
                "state": token_state(state.state),
                "tokenAmount": ui_amount(state.amount, decimals),
            }
            if state.delegate is not None:
                info["delegate"] = str(state.delegate)
                info["delegatedAmount"] = ui_amount(state.delegated_amount, decimals)
            if state.is_native is not None:
                info["rentExemptReserve"] = ui_amount(state.is_native, decimals)
            if state.close_authority is not None:
                info["closeAuthority"] = str(state.close_authority)
            kind = "account"
        else:
            return None
        return {"program": "spl-token", "parsed": {"info": info, "type": kind}, "space": len(data)}

    def get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        address = pubkey_param(param(params, 0, "pubkey"))
        context = context_of(self.ledger, config_param(params, 1))
        account = self.ledger.account(address)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        if account.owner != TOKEN_PROGRAM_ID or len(account.data) != ACCOUNT_LEN:
            raise invalid_params("Invalid param: not a Token account")
        state = TokenAccount.from_bytes(bytes(account.data))
        mint_account = self.ledger.account(state.mint)
        if mint_account is None:
            raise invalid_params("Invalid param: could not find mint")
        decimals = Mint.from_bytes(bytes(mint_account.data)).decimals
        return {"context": context, "value": ui_amount(state.amount, decimals)}

    def get_token_accounts_by_owner(self, params: list[Any]) -> dict[str, Any]:
        owner = pubkey_param(param(params, 0, "pubkey"))
        selector = param(params, 1, "filter")
        config = config_param(params, 2)
        context = context_of(self.ledger, config)
        mint: Pubkey | None = None
        if isinstance(selector, dict) and "mint" in selector:
            mint = pubkey_param(selector["mint"])
            mint_account = self.ledger.account(mint)
            if mint_account is None or mint_account.owner not in (
                TOKEN_PROGRAM_ID,
                TOKEN_2022_PROGRAM_ID,
            ):
                raise invalid_params("Invalid param: could not find mint")
            program = mint_account.owner
        elif isinstance(selector, dict) and "programId" in selector:
            program = pubkey_param(selector["programId"])
            if program not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
                raise invalid_params("Invalid param: unrecognized Token program id")
        else:
            raise invalid_params("Invalid params: expected `mint` or `programId` filter.")
        accounts = self.ledger.token_accounts(owner, mint) if program == TOKEN_PROGRAM_ID else []
        value = [
            {"pubkey": str(address), "account": self._ui_account(account, config)}
            for address, account in accounts
        ]
        return {"context": context, "value": value}

    def get_token_supply(self, params: list[Any]) -> dict[str, Any]:
        address = pubkey_param(param(params, 0, "pubkey"))
        context = context_of(self.ledger, config_param(params, 1))
        account = self.ledger.account(address)
        if account is None:
            raise invalid_params("Invalid param: could not find mint")
        if (
            account.owner not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
            or len(account.data) < MINT_LEN
        ):
            raise invalid_params("Invalid param: not a Token mint")
        mint = Mint.from_bytes(bytes(account.data)[:MINT_LEN])
        return {"context": context, "value": ui_amount(mint.supply, mint.decimals)}

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> int:
        size = u64(param(params, 0, "usize"), "usize")
        return int(self.ledger.svm.minimum_balance_for_rent_exemption(size))
