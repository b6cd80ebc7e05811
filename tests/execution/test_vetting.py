"""What the wallet signs for a swap (`solbot.execution.vetting`): the honest shapes pass, every
way a hostile answer could reach the wallet's other money is refused in one line.

The honest shapes are the ones the sim's maker and `/build` produce (System transfer or
`transfer_checked` of the input to the maker, the output pulled from an escrow as delegate, the
wrapped-SOL account closed back to the wallet) and Jupiter's own: a swap-program instruction
with the wallet as signer, its SOL wrapped into its own account first."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import AssignParams, CreateAccountParams, assign, create_account
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, WRAPPED_SOL_MINT
from spl.token.instructions import (
    AuthorityType,
    approve,
    close_account,
    set_authority,
    transfer,
    transfer_checked,
)
from spl.token.models import (
    ApproveParams,
    CloseAccountParams,
    SetAuthorityParams,
    TransferCheckedParams,
    TransferParams,
)

from solbot.chain.builders import (
    associated_token_address,
    compute_unit_limit,
    compute_unit_price,
    create_associated_token_account,
    memo,
    sol_transfer,
    token_transfer_checked,
)
from solbot.chain.lookup_tables import LookupTableError, LookupTables
from solbot.chain.port import AccountInfo
from solbot.execution.vetting import (
    JUPITER_AGGREGATOR,
    SwapTerms,
    UnsafeTransactionError,
    vet_swap,
)

OWNER = Keypair.from_seed(bytes([1]) * 32).pubkey()
MAKER = Keypair.from_seed(bytes([2]) * 32).pubkey()
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
THIEF = Keypair.from_seed(bytes([3]) * 32).pubkey()
USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
JUP = Pubkey.from_string("JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN")
BONK = Pubkey.from_string("DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263")
AMOUNT = 1_000_000
CAP = 1_000_000


def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return associated_token_address(owner, mint)


def ata_2022(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return associated_token_address(owner, mint, TOKEN_2022_PROGRAM_ID)


def terms(input_mint: Pubkey = USDC, output_mint: Pubkey = JUP, cap: int = CAP) -> SwapTerms:
    return SwapTerms(OWNER, input_mint, output_mint, AMOUNT, cap, max_slippage_bps=50)


def check(
    ixs: Sequence[Instruction],
    *,
    payer: Pubkey = OWNER,
    swap: SwapTerms | None = None,
    trusted: Sequence[Pubkey] = (),
) -> None:
    message = MessageV0.try_compile(payer, list(ixs), [], Hash.default())
    vet_swap(message, message.account_keys, swap or terms(), trusted)


def refused(ixs: Sequence[Instruction], names: str, **kw: object) -> None:
    with pytest.raises(UnsafeTransactionError, match=names) as caught:
        check(ixs, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def pay_usdc(amount: int = AMOUNT, mint: Pubkey = USDC, to: Pubkey = MAKER) -> Instruction:
    return token_transfer_checked(OWNER, to, mint, amount, 6)


def escrow_pull(amount: int = 5_000) -> Instruction:
    """The sim's `/build` output: the wallet, as delegate, pulls the maker's escrow to itself."""
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=MAKER,
            mint=JUP,
            dest=ata(OWNER, JUP),
            owner=OWNER,
            amount=amount,
            decimals=6,
        )
    )


ROUTE_V2 = bytes([187, 100, 250, 204, 49, 196, 175, 20])
SHARED_ROUTE_V2 = bytes([209, 152, 83, 147, 124, 254, 216, 233])
ROUTE = bytes([229, 23, 203, 151, 122, 227, 173, 42])
EXACT_OUT_ROUTE = bytes([208, 51, 239, 151, 123, 43, 237, 92])
PLAN = bytes([1, 0, 0, 0]) + bytes(range(6))  # a route plan's bytes: not read


def jupiter_route(
    *,
    source: Pubkey | None = None,
    destination: Pubkey | None = None,
    in_amount: int = AMOUNT,
    slippage_bps: int = 50,
    platform_fee_bps: int = 0,
    input_mint: Pubkey = USDC,
    output_mint: Pubkey = JUP,
    authority: Pubkey = OWNER,
) -> Instruction:
    """Jupiter's `route_v2` as `/build` answers it (accounts and arguments per the IDL)."""
    data = (
        ROUTE_V2 + struct.pack("<QQHHH", in_amount, 5_000, slippage_bps, platform_fee_bps, 0) + PLAN
    )
    metas = [
        AccountMeta(authority, True, False),
        AccountMeta(source or ata(OWNER, input_mint), False, True),
        AccountMeta(destination or ata(OWNER, output_mint), False, True),
        AccountMeta(input_mint, False, False),
        AccountMeta(output_mint, False, False),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(JUPITER_AGGREGATOR, False, True),  # no separate destination
        AccountMeta(THIEF, False, False),  # event authority (any account here)
        AccountMeta(JUPITER_AGGREGATOR, False, False),
    ]
    return Instruction(JUPITER_AGGREGATOR, data, metas)


# -- the honest shapes -------------------------------------------------------------------------


def test_the_sims_order_shapes_pass() -> None:
    check([pay_usdc()], payer=MAKER)  # v2: the maker pays the fee
    check([create_associated_token_account(OWNER, OWNER, JUP), pay_usdc()])  # v1
    sol = terms(input_mint=WRAPPED_SOL_MINT)
    check([sol_transfer(OWNER, MAKER, AMOUNT), sol_transfer(MAKER, OWNER, 9)], swap=sol)


def test_the_sims_build_shape_passes() -> None:
    unwrap = close_account(
        CloseAccountParams(
            program_id=TOKEN_PROGRAM_ID,
            account=ata(OWNER, WRAPPED_SOL_MINT),
            dest=OWNER,
            owner=OWNER,
        )
    )
    check(
        [
            compute_unit_limit(60_000),
            compute_unit_price(16_000_000),  # 960,000 lamports: under the cap
            create_associated_token_account(OWNER, OWNER, JUP),
            pay_usdc(),
            escrow_pull(),
            unwrap,
        ]
    )


def test_a_jupiter_route_with_wrapped_sol_and_a_memo_passes() -> None:
    wrap = sol_transfer(OWNER, ata(OWNER, WRAPPED_SOL_MINT), AMOUNT)
    sol = terms(input_mint=WRAPPED_SOL_MINT)
    check([wrap, jupiter_route(input_mint=WRAPPED_SOL_MINT), memo("solbot")], swap=sol)


def test_jupiters_route_instructions_are_read_in_each_layout() -> None:
    """`route` (amounts at the end), `shared_accounts_route_v2` (an id first), and the order's
    own limits held in each."""
    tail = struct.pack("<QQHB", AMOUNT, 5_000, 50, 0)
    legacy = Instruction(
        JUPITER_AGGREGATOR,
        ROUTE + PLAN + tail,
        [
            AccountMeta(TOKEN_PROGRAM_ID, False, False),
            AccountMeta(OWNER, True, False),
            AccountMeta(ata(OWNER, USDC), False, True),
            AccountMeta(ata(OWNER, JUP), False, True),
            AccountMeta(THIEF, False, True),  # a separate destination: the thief's
            AccountMeta(JUP, False, False),
        ],
    )
    refused([legacy], f"sends the output to {THIEF}")
    shared = Instruction(
        JUPITER_AGGREGATOR,
        SHARED_ROUTE_V2 + bytes([3]) + struct.pack("<QQHHH", AMOUNT + 1, 5_000, 50, 0, 0) + PLAN,
        [
            AccountMeta(MAKER, False, False),  # program authority
            AccountMeta(OWNER, True, False),
            AccountMeta(ata(OWNER, USDC), False, True),
            AccountMeta(MAKER, False, True),
            AccountMeta(MAKER, False, True),
            AccountMeta(ata(OWNER, JUP), False, True),
        ],
    )
    refused([shared], f"takes {AMOUNT + 1} atoms, more than the order's {AMOUNT}")


def test_a_jupiter_route_that_strays_from_the_order_is_refused() -> None:
    refused([jupiter_route(source=ata(OWNER, BONK))], "takes from")  # another token of the wallet
    refused([jupiter_route(in_amount=AMOUNT * 100)], "more than the order's")
    refused([jupiter_route(destination=ata(THIEF, JUP))], "sends the output to")
    refused([jupiter_route(slippage_bps=51)], "51 bps of slippage; the order asked for at most 50")
    refused([jupiter_route(platform_fee_bps=100)], "platform fee")
    exact_out = jupiter_route()
    exact_out = Instruction(
        exact_out.program_id, EXACT_OUT_ROUTE + exact_out.data[8:], exact_out.accounts
    )
    refused([exact_out], "not an exact-in route")


def test_a_program_the_operator_trusts_passes() -> None:
    router = Pubkey.from_string("DF1ow4tspfHX9JwWJsAb9epbkA8hmpSEAtxXy1V27QBH")
    ix = Instruction(router, b"\x01", [AccountMeta(OWNER, True, False)])
    refused([ix], f"calls program {router}, which solbot does not sign for")
    check([ix], trusted=[router])


def test_a_tip_within_the_cap_passes_and_beyond_it_is_refused() -> None:
    tip = Keypair.from_seed(bytes([9]) * 32).pubkey()
    check([pay_usdc(), sol_transfer(OWNER, tip, 10_000)])
    refused(
        [
            compute_unit_limit(100_000),
            compute_unit_price(9_000_000),
            pay_usdc(),
            sol_transfer(OWNER, tip, 200_000),
        ],
        r"1100000 lamports beyond the swap \(priority fee 900000, tips 200000\), above the cap",
    )


# -- what a hostile answer could try ----------------------------------------------------------


def test_more_than_the_input_is_refused() -> None:
    refused([pay_usdc(AMOUNT + 1)], f"{AMOUNT + 1} atoms of the input, more than")
    refused([pay_usdc(AMOUNT), pay_usdc(1)], "more than the order's")
    sol = terms(input_mint=WRAPPED_SOL_MINT, cap=0)
    refused([sol_transfer(OWNER, MAKER, AMOUNT + 1)], "tips 1", swap=sol)


def test_another_token_of_the_wallet_is_refused() -> None:
    refused([pay_usdc(mint=BONK)], "not the swap's input")
    unchecked = transfer(
        TransferParams(
            program_id=TOKEN_PROGRAM_ID,
            source=ata(OWNER, BONK),
            dest=ata(THIEF, BONK),
            owner=OWNER,
            amount=1,
        )
    )
    refused([unchecked], "not the swap's input")


def test_sol_out_on_a_token_swap_counts_against_the_cap() -> None:
    refused([pay_usdc(), sol_transfer(OWNER, THIEF, CAP + 1)], f"tips {CAP + 1}")


def test_tokens_beside_a_swap_program_are_refused() -> None:
    refused([jupiter_route(), pay_usdc(to=THIEF)], "beside its swap instruction")


def test_lasting_powers_are_refused() -> None:
    delegate = approve(
        ApproveParams(
            program_id=TOKEN_PROGRAM_ID,
            source=ata(OWNER, BONK),
            delegate=THIEF,
            owner=OWNER,
            amount=2**64 - 1,
        )
    )
    refused([pay_usdc(), delegate], "token Approve naming the wallet")
    handover = set_authority(
        SetAuthorityParams(
            program_id=TOKEN_PROGRAM_ID,
            account=ata(OWNER, BONK),
            authority=AuthorityType.ACCOUNT_OWNER,
            current_authority=OWNER,
            new_authority=THIEF,
        )
    )
    refused([handover], "token SetAuthority")
    refused([assign(AssignParams(pubkey=OWNER, owner=THIEF))], "System Assign")
    drain = close_account(
        CloseAccountParams(
            program_id=TOKEN_PROGRAM_ID, account=ata(OWNER, USDC), dest=THIEF, owner=OWNER
        )
    )
    refused([drain], f"rent going to {THIEF}")


def test_sol_sent_to_an_account_that_can_never_be_the_wallets_is_counted() -> None:
    """Only the wallet and its wrapped-SOL account (classic token program) keep SOL it sends:
    its USDC address under Token-2022 can never hold it, so the SOL would be lost."""
    lost = ata_2022(OWNER, USDC)
    refused([pay_usdc(), sol_transfer(OWNER, lost, 100 * CAP)], f"tips {100 * CAP}")


def test_a_durable_nonce_is_refused_whoever_it_names() -> None:
    nonce = Instruction(
        SYSTEM,
        struct.pack("<I", 4),
        [AccountMeta(MAKER, False, True), AccountMeta(THIEF, False, False)],
    )
    refused([nonce, pay_usdc()], "System AdvanceNonceAccount")


def test_on_the_routes_it_sends_the_wallet_pays_the_fee() -> None:
    ours = SwapTerms(OWNER, USDC, JUP, AMOUNT, CAP, owner_pays=True)
    refused([pay_usdc()], f"has {MAKER} pay its fee", payer=MAKER, swap=ours)
    check([pay_usdc()], swap=ours)


def test_a_compute_budget_set_twice_is_refused() -> None:
    twice = [compute_unit_price(1), compute_unit_price(2), pay_usdc()]
    refused(twice, "sets its compute budget twice")


def test_accounts_made_with_the_wallets_sol_are_its_own() -> None:
    stranger = create_associated_token_account(OWNER, THIEF, JUP)
    refused([stranger], f"token account of {THIEF}")
    refused([create_associated_token_account(OWNER, OWNER, BONK)], f"for {BONK}, not the swap's")
    rogue = Keypair.from_seed(bytes([5]) * 32).pubkey()  # a program that would own the account
    created = create_associated_token_account(OWNER, OWNER, JUP)
    metas = list(created.accounts)
    metas[5] = AccountMeta(rogue, False, False)
    refused([Instruction(created.program_id, created.data, metas)], "no token program")
    fresh = Keypair.from_seed(bytes([4]) * 32).pubkey()
    made = create_account(
        CreateAccountParams(
            from_pubkey=OWNER, to_pubkey=fresh, lamports=10**9, space=0, owner=THIEF
        )
    )
    refused([made], "System CreateAccount")


def test_a_priority_fee_above_the_cap_is_refused_only_when_the_wallet_pays_it() -> None:
    budget = [compute_unit_limit(200_000), compute_unit_price(10_000_000)]  # 2,000,000 lamports
    refused([*budget, pay_usdc()], "priority fee 2000000, tips 0")
    check([*budget, pay_usdc()], payer=MAKER)
    # Without a limit the runtime allows 200,000 units an instruction: the price counts on that.
    refused([compute_unit_price(6_000_000), pay_usdc()], "priority fee 1200000")


# -- lookup tables: what the chain holds, not what the answer says ---------------------------


class TableChain:
    """A chain that holds lookup tables (what `LookupTables` reads through `account`)."""

    def __init__(self, tables: dict[Pubkey, list[Pubkey]]) -> None:
        self.tables = tables
        self.reads = 0

    async def account(self, address: Pubkey) -> AccountInfo | None:
        self.reads += 1
        entries = self.tables.get(address)
        if entries is None:
            return None
        meta = struct.pack("<IQQB", 1, 2**64 - 1, 1, 0) + bytes(35)
        data = meta + b"".join(bytes(entry) for entry in entries)
        return AccountInfo(10**7, LOOKUP_TABLE_PROGRAM, False, len(data), data)


TABLE = Keypair.from_seed(bytes([7]) * 32).pubkey()


async def vet_with_tables(
    ixs: Sequence[Instruction], claimed: list[Pubkey], chain: TableChain
) -> None:
    table = AddressLookupTableAccount(TABLE, claimed)
    message = MessageV0.try_compile(OWNER, list(ixs), [table], Hash.default())
    assert message.address_table_lookups, "the test means the table to be used"
    keys = await LookupTables(chain).account_keys(message)  # type: ignore[arg-type]
    vet_swap(message, keys, terms())


async def test_a_table_that_holds_what_the_answer_says_passes() -> None:
    chain = TableChain({TABLE: [ata(OWNER, USDC), ata(MAKER, USDC)]})
    await vet_with_tables([pay_usdc()], [ata(OWNER, USDC), ata(MAKER, USDC)], chain)


async def test_a_table_that_lies_is_read_from_the_chain() -> None:
    """Jupiter says entry 0 is the wallet's USDC account; on the chain it is its BONK account:
    the instruction we read pays USDC, the one that would run would pay BONK."""
    pay = transfer(
        TransferParams(
            program_id=TOKEN_PROGRAM_ID,
            source=ata(OWNER, USDC),
            dest=ata(MAKER, USDC),
            owner=OWNER,
            amount=AMOUNT,
        )
    )
    chain = TableChain({TABLE: [ata(OWNER, BONK), ata(MAKER, USDC)]})
    with pytest.raises(UnsafeTransactionError, match="not the swap's input"):
        await vet_with_tables([pay], [ata(OWNER, USDC), ata(MAKER, USDC)], chain)


async def test_a_missing_table_or_entry_is_refused() -> None:
    with pytest.raises(LookupTableError, match=f"lookup table {TABLE} is not on the chain"):
        await vet_with_tables([pay_usdc()], [ata(OWNER, USDC), ata(MAKER, USDC)], TableChain({}))
    short = TableChain({TABLE: [ata(OWNER, USDC)]})
    with pytest.raises(LookupTableError, match="holds 1 address"):
        await vet_with_tables([pay_usdc()], [ata(OWNER, USDC), ata(MAKER, USDC)], short)


async def test_a_table_is_read_once_while_it_holds_the_entries_asked_for() -> None:
    chain = TableChain({TABLE: [ata(OWNER, USDC), ata(MAKER, USDC)]})
    tables = LookupTables(chain)  # type: ignore[arg-type]
    table = AddressLookupTableAccount(TABLE, chain.tables[TABLE])
    message = MessageV0.try_compile(OWNER, [pay_usdc()], [table], Hash.default())
    for _ in range(3):
        await tables.account_keys(message)
    assert chain.reads == 1
