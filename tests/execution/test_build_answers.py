"""A `/build` answer that is not Jupiter's documented shape is refused in one line naming the
field (`BadResponseError`), before anything is assembled or signed: Jupiter's answer is input
from outside, and a wrong one must never become a transaction."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from solbot.execution.build import parse_build
from solbot.execution.jupiter_types import BadResponseError

SYSTEM = "11111111111111111111111111111111"
BUDGET = "ComputeBudget111111111111111111111111111111"
PAYER = "4Yxwy5WDGrXRd2eSMFrEsPnwDg4JCJHeaw1WbrxQ36Qc"
IN_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
OUT_MINT = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"


def instruction(program: str = SYSTEM) -> dict[str, Any]:
    account = {"pubkey": PAYER, "isSigner": True, "isWritable": True}
    return {"programId": program, "accounts": [account], "data": "AgAAAOgDAAAAAAAA"}


def answer() -> dict[str, Any]:
    """A well-formed answer (the shape the sim's tests check against the spec)."""
    return {
        "inputMint": IN_MINT,
        "outputMint": OUT_MINT,
        "inAmount": "1000000",
        "outAmount": "2000000",
        "otherAmountThreshold": "1990000",
        "swapMode": "ExactIn",
        "slippageBps": 50,
        "priceImpactPct": "0.001",
        "routePlan": [],
        "computeBudgetInstructions": [instruction(BUDGET)],
        "setupInstructions": [instruction()],
        "swapInstruction": instruction(),
        "cleanupInstruction": None,
        "otherInstructions": [],
        "tipInstruction": None,
        "addressesByLookupTableAddress": None,
        "blockhashWithMetadata": {"blockhash": [7] * 32, "lastValidBlockHeight": 1234},
    }


def test_a_well_formed_answer_is_read() -> None:
    built = parse_build(answer(), "build", IN_MINT, OUT_MINT)
    assert (built.in_amount, built.out_amount, built.other_amount_threshold) == (
        1_000_000,
        2_000_000,
        1_990_000,
    )
    assert built.last_valid_block_height == 1234
    assert bytes(built.blockhash) == bytes([7] * 32)
    assert len(built.setup) == 1


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(key)


def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__(key, value)


def meta(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["blockhashWithMetadata"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("hostile", "names"),
    [
        (drop("swapInstruction"), "swapInstruction"),
        (put("swapInstruction", "not an instruction"), "swapInstruction"),
        (put("swapInstruction", {**instruction(), "data": "%%%not base64"}), "swapInstruction"),
        (put("swapInstruction", {**instruction(), "programId": "nope"}), "swapInstruction"),
        (
            put("setupInstructions", [{**instruction(), "accounts": [{"pubkey": PAYER}]}]),
            "setupInstructions[0]",
        ),
        # a "compute budget" instruction for another program: would be signed as one of ours
        (put("computeBudgetInstructions", [instruction(SYSTEM)]), "compute budget instruction"),
        (put("outputMint", IN_MINT), "outputMint"),
        (put("outAmount", "-5"), "outAmount"),
        (meta("blockhash", [7] * 31), "blockhashWithMetadata"),
        (meta("blockhash", [256] + [7] * 31), "blockhashWithMetadata"),
        (meta("lastValidBlockHeight", None), "lastValidBlockHeight"),
        (put("addressesByLookupTableAddress", {"nope": ["x"]}), "addressesByLookupTableAddress"),
    ],
)
def test_a_malformed_or_hostile_answer_is_refused_in_one_line(
    hostile: Callable[[dict[str, Any]], None], names: str
) -> None:
    body = copy.deepcopy(answer())
    hostile(body)
    with pytest.raises(BadResponseError) as caught:
        parse_build(body, "build", IN_MINT, OUT_MINT)
    assert names in str(caught.value)
    assert "\n" not in str(caught.value)
