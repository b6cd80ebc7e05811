"""`getTransaction` with `jsonParsed`: the account keys annotated (signer, writable, source) and
the instructions of the programs a bot's transactions use decoded as agave decodes them
(`transaction-status/src/parse_instruction.rs` and its `parse_system`, `parse_token`,
`parse_associated_token` modules): `{program, programId, parsed: {type, info}, stackHeight}`.

agave parses more programs (stake, vote, loaders, lookup tables) and more instructions of these;
the sim decodes what its world runs (transfers, account creation, token transfers and closes,
associated accounts, memos). Anything else is "partially decoded", `{programId, accounts, data,
stackHeight}`, which is also what agave answers for a program it does not parse (the compute
budget program, a DEX) or an instruction its parser refuses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from solders.instruction import CompiledInstruction
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from solbot.sim.rpc_wire import b58encode, ui_amount, ui_envelope, writable_flags

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
MEMO_PROGRAMS = {
    Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),  # v1
    Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),  # v3
}

Keys = list[Pubkey]
Info = dict[str, Any]


def parsed_transaction(tx: VersionedTransaction) -> dict[str, Any]:
    """The `transaction` field of a `jsonParsed` getTransaction answer."""
    message = tx.message
    keys = list(message.account_keys)
    writable = writable_flags(message)
    answer: dict[str, Any] = {
        "accountKeys": [
            {
                "pubkey": str(key),
                "writable": writable[i],
                "signer": message.is_signer(i),
                "source": "transaction",
            }
            for i, key in enumerate(keys)
        ],
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [parsed_instruction(keys, ix) for ix in message.instructions],
    }
    return ui_envelope(tx, answer)


def parsed_instruction(keys: Keys, ix: CompiledInstruction) -> dict[str, Any]:
    """One instruction, decoded when its program and kind are known, else partially."""
    program = keys[ix.program_id_index]
    accounts = [keys[i] for i in bytes(ix.accounts)]
    data = bytes(ix.data)
    decoded = _decode(program, accounts, data)
    if decoded is None:
        return {
            "programId": str(program),
            "accounts": [str(a) for a in accounts],
            "data": b58encode(data),
            "stackHeight": None,
        }
    name, parsed = decoded
    return {"program": name, "programId": str(program), "parsed": parsed, "stackHeight": None}


def _decode(program: Pubkey, accounts: Keys, data: bytes) -> tuple[str, Any] | None:
    try:
        if program == SYSTEM_PROGRAM:
            found = _system(accounts, data)
            return None if found is None else ("system", found)
        if program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            found = _token(accounts, data)
            return None if found is None else ("spl-token", found)
        if program == ASSOCIATED_TOKEN_PROGRAM_ID:
            found = _associated_token(accounts, data)
            return None if found is None else ("spl-associated-token-account", found)
        if program in MEMO_PROGRAMS:
            return "spl-memo", data.decode("utf-8")
    except (IndexError, struct.error, UnicodeDecodeError):
        return None  # too few accounts or bytes for its kind: agave falls back the same way
    return None


def _typed(kind: str, info: Info) -> Info:
    return {"type": kind, "info": info}


def _system(accounts: Keys, data: bytes) -> Info | None:
    (tag,) = struct.unpack_from("<I", data)
    if tag == 0:
        lamports, space = struct.unpack_from("<QQ", data, 4)
        owner = Pubkey.from_bytes(data[20:52])
        return _typed(
            "createAccount",
            {
                "source": str(accounts[0]),
                "newAccount": str(accounts[1]),
                "lamports": lamports,
                "space": space,
                "owner": str(owner),
            },
        )
    if tag == 1:
        return _typed(
            "assign", {"account": str(accounts[0]), "owner": str(Pubkey.from_bytes(data[4:36]))}
        )
    if tag == 2:
        (lamports,) = struct.unpack_from("<Q", data, 4)
        info = {"source": str(accounts[0]), "destination": str(accounts[1]), "lamports": lamports}
        return _typed("transfer", info)
    if tag == 8:
        (space,) = struct.unpack_from("<Q", data, 4)
        return _typed("allocate", {"account": str(accounts[0]), "space": space})
    return None


def _token(accounts: Keys, data: bytes) -> Info | None:
    parse = _TOKEN.get(data[0])
    return None if parse is None else parse(accounts, data)


def _token_transfer(accounts: Keys, data: bytes) -> Info:
    (amount,) = struct.unpack_from("<Q", data, 1)
    info = {
        "source": str(accounts[0]),
        "destination": str(accounts[1]),
        "authority": str(accounts[2]),
        "amount": str(amount),
    }
    return _typed("transfer", info)


def _token_transfer_checked(accounts: Keys, data: bytes) -> Info:
    amount, decimals = struct.unpack_from("<QB", data, 1)
    info = {
        "source": str(accounts[0]),
        "mint": str(accounts[1]),
        "destination": str(accounts[2]),
        "authority": str(accounts[3]),
        "tokenAmount": ui_amount(amount, decimals),
    }
    return _typed("transferChecked", info)


def _token_close(accounts: Keys, _data: bytes) -> Info:
    info = {
        "account": str(accounts[0]),
        "destination": str(accounts[1]),
        "owner": str(accounts[2]),
    }
    return _typed("closeAccount", info)


def _token_sync_native(accounts: Keys, _data: bytes) -> Info:
    return _typed("syncNative", {"account": str(accounts[0])})


def _token_initialize_account3(accounts: Keys, data: bytes) -> Info:
    info = {
        "account": str(accounts[0]),
        "mint": str(accounts[1]),
        "owner": str(Pubkey.from_bytes(data[1:33])),
    }
    return _typed("initializeAccount3", info)


_TOKEN: dict[int, Callable[[Keys, bytes], Info]] = {
    3: _token_transfer,
    9: _token_close,
    12: _token_transfer_checked,
    17: _token_sync_native,
    18: _token_initialize_account3,
}


def _associated_token(accounts: Keys, data: bytes) -> Info | None:
    kinds = {b"": "create", b"\x00": "create", b"\x01": "createIdempotent"}
    kind = kinds.get(data)
    if kind is None:
        return None
    info = {
        "source": str(accounts[0]),
        "account": str(accounts[1]),
        "wallet": str(accounts[2]),
        "mint": str(accounts[3]),
        "systemProgram": str(accounts[4]),
        "tokenProgram": str(accounts[5]),
    }
    return _typed(kind, info)
