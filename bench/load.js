// Load generator: N clients join one room; S of them send M messages each,
// one at a time, waiting for the ack (closed loop). Every client counts the
// `message` broadcasts it receives. Prints one JSON line.
"use strict";
const { io } = require("socket.io-client");

const [url, clients, senders, perSender] = [
  process.argv[2],
  Number(process.argv[3] || 50),
  Number(process.argv[4] || 10),
  Number(process.argv[5] || 200),
];
const total = senders * perSender;
const deadline = setTimeout(() => {
  console.error("benchmark timed out");
  process.exit(2);
}, 120_000);

function connect(i) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    socket.once("connect_error", reject);
    socket.once("connect", async () => {
      const reply = await socket.timeout(10_000).emitWithAck("join", `user${i}`);
      if (!reply.ok) reject(new Error(JSON.stringify(reply)));
      resolve(socket);
    });
  });
}

(async () => {
  const sockets = [];
  for (let i = 0; i < clients; i++) sockets.push(await connect(i));
  const latencies = [];
  let received = 0;
  let allDelivered;
  const delivered = new Promise((r) => (allDelivered = r));
  for (const s of sockets) {
    s.on("message", (line) => {
      const sent = Number(line.slice(line.lastIndexOf(" ") + 1));
      latencies.push(performance.now() - sent);
      if (++received === total * clients) allDelivered();
    });
  }
  const started = performance.now();
  await Promise.all(
    sockets.slice(0, senders).map(async (s) => {
      for (let k = 0; k < perSender; k++) {
        const reply = await s.timeout(10_000).emitWithAck("message", `m${k} ${performance.now()}`);
        if (!reply.ok) throw new Error(JSON.stringify(reply));
      }
    }),
  );
  const acked = performance.now() - started;
  await delivered;
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(
    JSON.stringify({
      clients,
      senders,
      messages: total,
      deliveries: received,
      seconds: elapsed / 1000,
      messages_per_s: total / (acked / 1000),
      deliveries_per_s: received / (elapsed / 1000),
      p50_ms: pct(50),
      p99_ms: pct(99),
    }),
  );
  clearTimeout(deadline);
  sockets.forEach((s) => s.close());
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
