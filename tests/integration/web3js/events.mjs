// What both scripts wait on: the first event a web3.js subscription delivers, within 10 s.
export function nextEvent(subscribe) {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no websocket notification in 10 s")), 10_000);
    subscribe(resolve);
  });
}
