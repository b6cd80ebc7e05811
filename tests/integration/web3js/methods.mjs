// The RPC methods a bot calls around its swaps, through web3.js's own response checks (each
// `connection.getX` validates the answer's shape and throws on a mismatch):
// getEpochInfo, getRecentPrioritizationFees, getSignaturesForAddress, getBlockTime,
// getParsedTransaction (jsonParsed), getTokenSupply, accountSubscribe, logsSubscribe, and a
// transaction with a broken signature sent with preflight.
//
//   node methods.mjs RPC_URL BASE58_SECRET
//
// Prints one JSON line with the results; exits 1 on any error.
import bs58 from "bs58";
import {
  ComputeBudgetProgram,
  Keypair,
  PublicKey,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";

import { connectTo, nextEvent } from "./sim.mjs";

const TOKEN_PROGRAM = new PublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
const PRICE = 1234; // micro-lamports per compute unit

const [rpcUrl, secret] = process.argv.slice(2);
if (!rpcUrl || !secret) throw new Error("usage: node methods.mjs RPC_URL BASE58_SECRET");
const connection = connectTo(rpcUrl);
const payer = Keypair.fromSecretKey(bs58.decode(secret));
const recipient = Keypair.generate();

// Subscribed before the transfer: the recipient's account change and the payer's logs.
const accountNotification = nextEvent((resolve) =>
  connection.onAccountChange(recipient.publicKey, (info, context) =>
    resolve({ lamports: info.lamports, owner: info.owner.toBase58(), slot: context.slot }),
  ),
);
const logsNotification = nextEvent((resolve) =>
  connection.onLogs(payer.publicKey, (logs, context) => resolve({ ...logs, slot: context.slot })),
);
await new Promise((resolve) => setTimeout(resolve, 300)); // let both subscriptions land

const transfer = new Transaction().add(
  ComputeBudgetProgram.setComputeUnitPrice({ microLamports: PRICE }),
  SystemProgram.transfer({
    fromPubkey: payer.publicKey,
    toPubkey: recipient.publicKey,
    lamports: 5_000_000,
  }),
);
const signature = await sendAndConfirmTransaction(connection, transfer, [payer]);
const epochInfo = await connection.getEpochInfo();

const fees = await connection.getRecentPrioritizationFees();
const feesForPayer = await connection.getRecentPrioritizationFees({
  lockedWritableAccounts: [payer.publicKey],
});
const signatures = await connection.getSignaturesForAddress(payer.publicKey, { limit: 5 });
const parsed = await connection.getParsedTransaction(signature, {
  commitment: "confirmed",
  maxSupportedTransactionVersion: 0,
});
const blockTime = await connection.getBlockTime(parsed.slot);

const tokenAccounts = await connection.getParsedTokenAccountsByOwner(payer.publicKey, {
  programId: TOKEN_PROGRAM,
});
const mint = new PublicKey(tokenAccounts.value[0].account.data.parsed.info.mint);
const supply = await connection.getTokenSupply(mint);

// A transaction whose signature does not match its message: preflight must refuse it.
const forged = new Transaction().add(
  SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient.publicKey, lamports: 1 }),
);
forged.recentBlockhash = (await connection.getLatestBlockhash()).blockhash;
forged.feePayer = payer.publicKey;
forged.sign(payer);
const wire = forged.serialize();
wire[1] ^= 0xff; // the first byte is the signature count; flip one of the signature's
const badSignature = await connection
  ._rpcRequest("sendTransaction", [wire.toString("base64"), { encoding: "base64" }])
  .then((answer) => answer.error ?? { result: answer.result });

console.log(
  JSON.stringify({
    payer: payer.publicKey.toBase58(),
    recipient: recipient.publicKey.toBase58(),
    signature,
    epochInfo,
    fees: fees.slice(-200),
    feesForPayer: feesForPayer.slice(-200),
    price: PRICE,
    signatures,
    parsed: {
      slot: parsed.slot,
      blockTime: parsed.blockTime,
      accountKeys: parsed.transaction.message.accountKeys.map((key) => ({
        ...key,
        pubkey: key.pubkey.toBase58(),
      })),
      instructions: parsed.transaction.message.instructions.map((ix) => ({
        ...ix,
        programId: ix.programId.toBase58(),
        accounts: ix.accounts?.map((a) => a.toBase58()),
      })),
      fee: parsed.meta.fee,
    },
    blockTime,
    mint: mint.toBase58(),
    supply: supply.value,
    accountNotification: await accountNotification,
    logsNotification: await logsNotification,
    badSignature,
  }),
);
process.exit(0);
