// A web3.js bot landing a Swap v2 `/build` swap as Jupiter's docs show it: ask /build, turn its
// instructions into web3.js instructions, simulate to size the compute-unit limit (×1.2), put
// the limit in front of Jupiter's price, compile a v0 message with the lookup tables, sign, send
// with maxRetries 0 and skipPreflight, and confirm by blockhash and lastValidBlockHeight.
//
//   node build.mjs RPC_URL JUPITER_URL BASE58_SECRET INPUT_MINT OUTPUT_MINT AMOUNT
//
// Prints one JSON line with the results; exits 1 on any error.
import bs58 from "bs58";
import {
  AddressLookupTableAccount,
  ComputeBudgetProgram,
  Keypair,
  PublicKey,
  TransactionInstruction,
  TransactionMessage,
  VersionedTransaction,
} from "@solana/web3.js";

import { connectTo } from "./sim.mjs";

const [rpcUrl, jupiterUrl, secret, inputMint, outputMint, amount] = process.argv.slice(2);
if (!amount) {
  throw new Error("usage: node build.mjs RPC_URL JUPITER_URL SECRET INPUT_MINT OUTPUT_MINT AMOUNT");
}
const connection = connectTo(rpcUrl);
const taker = Keypair.fromSecretKey(bs58.decode(secret));

const query = new URLSearchParams({
  inputMint,
  outputMint,
  amount,
  taker: taker.publicKey.toBase58(),
  slippageBps: "50",
  computeUnitPricePercentile: "high",
});
const response = await fetch(`${jupiterUrl}/swap/v2/build?${query}`);
const build = await response.json();
if (!response.ok) throw new Error(`/build answered ${response.status}: ${JSON.stringify(build)}`);

const toInstruction = (ix) =>
  new TransactionInstruction({
    programId: new PublicKey(ix.programId),
    keys: ix.accounts.map((a) => ({
      pubkey: new PublicKey(a.pubkey),
      isSigner: a.isSigner,
      isWritable: a.isWritable,
    })),
    data: Buffer.from(ix.data, "base64"),
  });
const tables = Object.entries(build.addressesByLookupTableAddress ?? {}).map(
  ([key, addresses]) =>
    new AddressLookupTableAccount({
      key: new PublicKey(key),
      state: {
        deactivationSlot: BigInt("18446744073709551615"),
        lastExtendedSlot: 0,
        lastExtendedSlotStartIndex: 0,
        addresses: addresses.map((a) => new PublicKey(a)),
      },
    }),
);
const blockhash = bs58.encode(Uint8Array.from(build.blockhashWithMetadata.blockhash));
const { lastValidBlockHeight } = build.blockhashWithMetadata;
const swapInstructions = [
  ...build.computeBudgetInstructions.map(toInstruction),
  ...build.setupInstructions.map(toInstruction),
  toInstruction(build.swapInstruction),
  ...(build.cleanupInstruction ? [toInstruction(build.cleanupInstruction)] : []),
  ...build.otherInstructions.map(toInstruction),
];
const compile = (instructions) =>
  new VersionedTransaction(
    new TransactionMessage({
      payerKey: taker.publicKey,
      recentBlockhash: blockhash,
      instructions,
    }).compileToV0Message(tables),
  );

// size the limit: simulate with the most a transaction may use, unsigned
const probe = compile([ComputeBudgetProgram.setComputeUnitLimit({ units: 1_400_000 }), ...swapInstructions]);
const simulation = await connection.simulateTransaction(probe, {
  sigVerify: false,
  replaceRecentBlockhash: true,
});
if (simulation.value.err) throw new Error(`simulation failed: ${JSON.stringify(simulation.value)}`);
const units = Math.ceil(simulation.value.unitsConsumed * 1.2);

const transaction = compile([ComputeBudgetProgram.setComputeUnitLimit({ units }), ...swapInstructions]);
transaction.sign([taker]);
const before = await connection.getParsedTokenAccountsByOwner(taker.publicKey, {
  mint: new PublicKey(outputMint),
});
const signature = await connection.sendRawTransaction(transaction.serialize(), {
  skipPreflight: true,
  maxRetries: 0,
});
const confirmation = await connection.confirmTransaction(
  { signature, blockhash, lastValidBlockHeight },
  "confirmed",
);
const after = await connection.getParsedTokenAccountsByOwner(taker.publicKey, {
  mint: new PublicKey(outputMint),
});
const held = (accounts) =>
  accounts.value.reduce((sum, a) => sum + BigInt(a.account.data.parsed.info.tokenAmount.amount), 0n);
const landed = await connection.getTransaction(signature, {
  maxSupportedTransactionVersion: 0,
  commitment: "confirmed",
});

// What the transaction itself moved, from its metadata's token balances (owner and mint).
const ownHolding = (rows) =>
  (rows ?? [])
    .filter((b) => b.owner === taker.publicKey.toBase58() && b.mint === outputMint)
    .reduce((sum, b) => sum + BigInt(b.uiTokenAmount.amount), 0n);

console.log(
  JSON.stringify({
    taker: taker.publicKey.toBase58(),
    signature,
    err: confirmation.value.err,
    outAmount: build.outAmount,
    received: (held(after) - held(before)).toString(),
    receivedByMeta: (
      ownHolding(landed.meta.postTokenBalances) - ownHolding(landed.meta.preTokenBalances)
    ).toString(),
    unitsSimulated: simulation.value.unitsConsumed,
    unitLimit: units,
    unitsConsumed: landed.meta.computeUnitsConsumed,
    fee: landed.meta.fee,
    signers: transaction.message.header.numRequiredSignatures,
  }),
);
process.exit(0);
