// Idle connections at scale (bench/run.py's idlescale case): `clients`
// connections, each joined to one of `rooms` rooms (0: connected, not
// joined), opened by worker processes of at most `per_process` connections
// each, so that no one process nears its core or its open-file limit.
//
// This process (bench/load.js) coordinates: it forks the workers (children:
// on the same core, with the same open-file limit) and waits until each has
// started before the "start" mark, so that only the connecting falls between
// the marks; then it lets them all go at once, waits for every one to
// report, and sums what they counted and the CPU they spent.
"use strict";
const { fork } = require("child_process");
const { connectMany } = require("./client");
const { meter } = require("./meter");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const GRACE_MS = 20_000; // a connect in flight at the deadline may take this long

// The next message from `child` that has `key`; null if it exits first or
// `deadline` (performance.now()) passes.
function next(child, key, deadline) {
  return new Promise((resolve) => {
    const onMessage = (msg) => key in msg && finish(msg);
    const onExit = () => finish(null);
    const finish = (value) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(value);
    };
    const timer = setTimeout(onExit, Math.max(0, deadline - performance.now()));
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

// A worker: connections lo .. lo + count - 1 of the whole, told over IPC.
function worker() {
  const { url, lo, count, rooms, concurrency } = JSON.parse(process.argv[2]);
  let clients = [];
  process.on("disconnect", () => process.exit(0)); // the coordinator is gone
  process.on("message", async (msg) => {
    if (msg.go) {
      const stop = meter();
      const done = await connectMany(url, count, {
        hooks: { message() {} },
        name: rooms > 0 ? (i) => ({ name: `user${lo + i}`, room: `room${(lo + i) % rooms}` }) : undefined,
        concurrency,
        deadline: performance.now() + msg.ms_left,
      });
      clients = done.clients;
      const { failures } = done;
      process.send({ connected: clients.length, failed: failures.length, failures: failures.slice(0, 5), ...stop() });
    } else if (msg.count) {
      process.send({ open: clients.filter((c) => !c.closed).length });
    }
  });
  process.send({ ready: true });
}

async function idlescale(ctx, { clients, rooms = 0, per_process = 5000, concurrency = 50, settle = 2 }) {
  const n = Math.max(1, Math.ceil(clients / per_process));
  const bounds = Array.from({ length: n + 1 }, (_, k) => Math.floor((k * clients) / n));
  const share = Math.max(1, Math.ceil(concurrency / n)); // `concurrency` in all
  const workers = [];
  const ready = [];
  for (let k = 0; k < n; k++) {
    const spec = { url: ctx.url, lo: bounds[k], count: bounds[k + 1] - bounds[k], rooms, concurrency: share };
    workers.push(fork(__filename, [JSON.stringify(spec)], { stdio: ["ignore", "ignore", "inherit", "ipc"] }));
    ready.push(next(workers[k], "ready", ctx.deadline));
  }
  const base = { clients, rooms, processes: n, per_process: bounds[1] - bounds[0] };
  try {
    if ((await Promise.all(ready)).some((r) => r === null)) {
      return { ...base, connected: 0, open: 0, complete: false, error: "a load generator worker did not start" };
    }
    await ctx.mark("start", { quiesce: true });
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const replies = workers.map((w) => next(w, "connected", ctx.deadline + GRACE_MS));
    workers.forEach((w) => w.send({ go: true, ms_left: ctx.deadline - performance.now() }));
    const done = await Promise.all(replies);
    const wall = (performance.now() - t0) / 1000;
    const own = process.cpuUsage(cpu0);
    await sleep(settle * 1000);
    const counts = workers.map((w) => next(w, "open", performance.now() + 5000));
    workers.forEach((w) => w.send({ count: true }));
    const open = (await Promise.all(counts)).reduce((a, m) => a + (m ? m.open : 0), 0);
    await ctx.mark("end");
    const got = done.filter(Boolean);
    const sum = (f) => got.reduce((a, d) => a + f(d), 0);
    const max = (key) => Math.max(0, ...got.map((d) => d[key]));
    // Every process shares the one core: their CPU summed is that core's load.
    const cpuS = sum((d) => (d.loadgen_cpu_pct / 100) * d.seconds) + (own.user + own.system) / 1e6;
    const connected = sum((d) => d.connected);
    return {
      ...base,
      connected,
      open,
      failed: clients - connected,
      failures: got.flatMap((d) => d.failures).slice(0, 5),
      complete: open === clients,
      seconds: wall,
      loadgen_cpu_pct: wall > 0 ? (cpuS / wall) * 100 : 0,
      loadgen_proc_cpu_pct_max: max("loadgen_cpu_pct"),
      loadgen_loop_delay_max_ms: max("loadgen_loop_delay_max_ms"),
      loadgen_loop_delay_p99_ms: max("loadgen_loop_delay_p99_ms"),
      settle_s: settle,
    };
  } finally {
    workers.forEach((w) => w.kill());
  }
}

if (require.main === module) worker();

module.exports = { idlescale };
