"""A sim RPC server of its own for a test: a manual clock, a ledger with two funded wallets and
a mint, the server on 127.0.0.1, a solana-py client; and the helpers the RPC tests share."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.chain import builders
from solbot.clock import ManualClock
from solbot.sim.ledger import SimLedger, new_keypair_from_seed
from solbot.sim.rpc_server import Congestion, Faults, RpcServerHandle, serve_rpc

START = 1_760_000_000.0
NATIVE_MINT = "So11111111111111111111111111111111111111112"
SOL = 1_000_000_000
DECIMALS = 6
FEE = 5_000
RENT_165 = 2_039_280


@dataclass
class Net:
    clock: ManualClock
    ledger: SimLedger
    server: RpcServerHandle
    client: AsyncClient
    alice: Keypair
    bob: Keypair
    mint: Pubkey


async def start_net(faults: Faults | None = None, congestion: Congestion | None = None) -> Net:
    clock = ManualClock(START)
    ledger = SimLedger(clock.now())
    alice = new_keypair_from_seed(b"rpc server tests: alice")
    bob = new_keypair_from_seed(b"rpc server tests: bob")
    mint = new_keypair_from_seed(b"rpc server tests: mint").pubkey()
    ledger.airdrop(alice.pubkey(), 10 * SOL)
    ledger.airdrop(bob.pubkey(), SOL)
    ledger.create_mint(mint, DECIMALS, alice.pubkey())
    ledger.set_token_balance(alice.pubkey(), mint, 1_234_567_890)
    ledger.set_token_balance(bob.pubkey(), mint, 0)
    server = await serve_rpc(ledger, clock, faults=faults, congestion=congestion)
    assert server.host == "127.0.0.1"
    client = AsyncClient(server.url, commitment=Confirmed)
    return Net(clock, ledger, server, client, alice, bob, mint)


async def raw(
    net: Net, method: str, *params: object, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """A raw JSON-RPC call (id 7): the HTTP status and the decoded body."""
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            net.server.url,
            json={"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)},
            headers=headers,
        )
    return response.status_code, response.json()


async def signed(
    net: Net, instructions: list[Instruction], payer: Keypair | None = None
) -> VersionedTransaction:
    payer = payer or net.alice
    blockhash = (await net.client.get_latest_blockhash()).value.blockhash
    return builders.build_transaction(payer.pubkey(), instructions, blockhash, [payer])


def pay_bob(net: Net, lamports: int) -> list[Instruction]:
    return [builders.sol_transfer(net.alice.pubkey(), net.bob.pubkey(), lamports)]


def overdraw_tokens(net: Net) -> list[Instruction]:
    return [
        builders.token_transfer_checked(
            net.alice.pubkey(), net.bob.pubkey(), net.mint, 10**15, DECIMALS
        )
    ]


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()
