// A web3.js wallet, as a dapp or a script would write one: read the balance, send SOL to a fresh
// account, confirm it over the websocket (signatureSubscribe), read balances and status back.
//
//   node wallet.mjs RPC_URL BASE58_SECRET [LAMPORTS]
//   (or SOLANA_RPC_URL, WALLET_PRIVATE_KEY, LAMPORTS in the environment)
//
// Prints one JSON line with the results; exits 1 on any error.
import bs58 from "bs58";
import {
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";

import { connectTo, nextEvent } from "./sim.mjs";

const [rpcUrl = process.env.SOLANA_RPC_URL, secret = process.env.WALLET_PRIVATE_KEY] =
  process.argv.slice(2);
const lamports = Number(process.argv[4] ?? process.env.LAMPORTS ?? 0.01 * LAMPORTS_PER_SOL);
if (!rpcUrl || !secret) throw new Error("usage: node wallet.mjs RPC_URL BASE58_SECRET [LAMPORTS]");

const connection = connectTo(rpcUrl);

const payer = Keypair.fromSecretKey(bs58.decode(secret));
const recipient = Keypair.generate();

const payerBefore = await connection.getBalance(payer.publicKey);
const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
const transaction = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight });
transaction.add(
  SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient.publicKey, lamports }),
);
const signature = await sendAndConfirmTransaction(connection, transaction, [payer]);

// sendAndConfirmTransaction races signatureSubscribe against one getSignatureStatuses, and the
// sim confirms at once; so also wait on the websocket alone: a notification for the (already
// confirmed) signature, as a validator sends on subscribe, and the next slot.
const signatureNotification = await nextEvent((resolve) =>
  connection.onSignature(signature, (result, context) => resolve({ ...result, ...context }))
);
const slotNotification = await nextEvent((resolve) => connection.onSlotChange(resolve));

const payerAfter = await connection.getBalance(payer.publicKey);
const recipientAfter = await connection.getBalance(recipient.publicKey);
// The sim may run hundreds of times faster than the wall (the tests use 600x): by now the
// signature can be older than the 300-slot status cache a validator searches by default, so ask
// for the history search, as a wallet reading back an older transaction does.
const { value: statuses } = await connection.getSignatureStatuses([signature], {
  searchTransactionHistory: true,
});

console.log(
  JSON.stringify({
    payer: payer.publicKey.toBase58(),
    recipient: recipient.publicKey.toBase58(),
    lamports,
    signatures: transaction.signatures.length,
    payerBefore,
    payerAfter,
    recipientAfter,
    blockhash,
    signature,
    status: statuses[0],
    signatureNotification,
    slotNotification,
  }),
);
// web3.js keeps its websocket open (and retries it); the work is done, so leave.
process.exit(0);
