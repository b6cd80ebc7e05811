// What both scripts share: a connection to `solbot sim serve`, and waiting on a subscription.
import { Connection } from "@solana/web3.js";

/** A confirmed-commitment connection; the PubSub endpoint is the RPC port + 1, as on
 * solana-test-validator. */
export function connectTo(rpcUrl) {
  const http = new URL(rpcUrl);
  const wsEndpoint = `ws://${http.hostname}:${Number(http.port) + 1}`;
  return new Connection(rpcUrl, { commitment: "confirmed", wsEndpoint });
}

/** The first event a web3.js subscription delivers, within 10 s. */
export function nextEvent(subscribe) {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no websocket notification in 10 s")), 10_000);
    subscribe(resolve);
  });
}
