// The restart storm: `clients` official socket.io-client sockets in `rooms`
// rooms; one client per room keeps posting (`hz` lines/s, each awaiting its
// ack) while the server restarts (loadgen.py stops it and starts it again
// on the same port and database at the "restart" mark). Every socket
// reconnects by itself; one the server cannot recover joins again, as an
// application does when socket.recovered is false. Counts the time until
// all are back, and per client the lines of its room missed or repeated.
//
// A server without recovery (the Node.js reference: nothing survives its
// restart, and it has no rooms) is told by the CONNECT without a pid: there
// every socket joins with a bare nickname, in the one room there is.
"use strict";
const { io } = require("socket.io-client");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function member(url, i, rooms, counts) {
  const room = `room${i % rooms}`;
  const name = `user${i}`;
  const socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnectionDelay: 300,
    reconnectionDelayMax: 2000,
    timeout: 10000,
  });
  const c = { socket, room, name, seen: new Map(), back: false, recovered: false, joins: 0 };
  c.join = () => {
    c.joins++;
    const payload = socket._pid ? { name, room, format: "tutorial" } : name;
    return socket.timeout(10000).emitWithAck("join", payload).catch(() => null);
  };
  socket.on("message", (line) => {
    const m = /^user\d+: (room\d+) (\d+)$/.exec(line);
    if (m && (m[1] === room || !socket._pid)) {
      const key = `${m[1]} ${m[2]}`;
      c.seen.set(key, (c.seen.get(key) || 0) + 1);
    }
  });
  socket.on("connect", () => {
    if (counts.restarted === 0) return;
    c.recovered = socket.recovered;
    const done = () => {
      c.back = true;
      counts.back++;
    };
    if (socket.recovered) done();
    else c.join().then(done);
  });
  return c;
}

async function restart(ctx, { clients, rooms = 10, hz = 5, before = 1, after = 3, concurrency = 50 }) {
  const counts = { restarted: 0, back: 0 };
  const cs = [];
  for (let i = 0; i < clients; i += concurrency) {
    const batch = [];
    for (let j = i; j < Math.min(clients, i + concurrency); j++) {
      const c = member(ctx.url, j, rooms, counts);
      cs.push(c);
      batch.push(new Promise((resolve) => c.socket.once("connect", resolve)).then(c.join));
    }
    await Promise.all(batch);
  }
  const recovery = Boolean(cs[0] && cs[0].socket._pid);
  const posters = cs.slice(0, Math.min(rooms, cs.length));
  const acked = new Map(); // "room n" -> true, for each line the server took
  let posting = true;
  const loops = posters.map(async (p) => {
    for (let n = 0; posting && performance.now() < ctx.deadline; n++) {
      const text = `${p.room} ${n}`;
      const reply = await p.socket.timeout(10000).emitWithAck("message", text).catch(() => null);
      if (reply && reply.ok) acked.set(text, true);
      await sleep(1000 / hz);
    }
  });
  await ctx.mark("start", { quiesce: true });
  await sleep(before * 1000);
  counts.restarted = 1;
  const t0 = performance.now();
  await ctx.mark("restart", { restart: true }); // stopped and started again
  while (counts.back < cs.length && performance.now() < ctx.deadline) await sleep(20);
  const allBack = (performance.now() - t0) / 1000;
  await sleep(after * 1000);
  posting = false;
  await Promise.all(loops);
  await sleep(1000); // the last lines arrive
  await ctx.mark("end");
  let missed = 0;
  let repeated = 0;
  for (const c of cs) {
    for (const key of acked.keys()) {
      if (recovery && !key.startsWith(`${c.room} `)) continue;
      const n = c.seen.get(key) || 0;
      if (n === 0) missed++;
      if (n > 1) repeated += n - 1;
    }
  }
  const recovered = cs.filter((c) => c.recovered).length;
  for (const c of cs) c.socket.disconnect();
  return {
    clients,
    rooms: recovery ? rooms : 1,
    back: counts.back,
    recovered,
    rejoined: counts.back - recovered,
    seconds: allBack,
    lines: acked.size,
    missed,
    repeated,
    complete: counts.back === cs.length,
  };
}

module.exports = { restart };
