// The loads. Each takes (ctx, params) and returns a plain result object.
// ctx.mark(name, extra) tells bench/loadgen.py that a moment has come ("start":
// just before the first send, "end": at the last delivery) and waits until
// it has read the server's CPU time and RSS. ctx.deadline bounds every wait;
// a scenario that runs out of time still returns what it counted.
"use strict";
const { connectMany } = require("./client");
const { meter } = require("./meter");
const { Tracker, text, percentile } = require("./tracker");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Everyone joins (as user0, user1, ...); then a flush marker from user0
// makes sure the join notices and user lists have all arrived.
async function joinRoom(ctx, tracker, clients, concurrency, warmup = 5) {
  const { clients: cs, failures } = await connectMany(ctx.url, clients, {
    hooks: tracker.hooks,
    name: (i) => `user${i}`,
    concurrency,
    deadline: ctx.deadline,
  });
  tracker.expect(cs.length);
  let settled = cs.length > 0;
  // A few flush rounds also warm up the JIT on both ends before measuring.
  for (let k = 0; k < warmup && settled; k++) settled = await tracker.flush(cs[0], ctx.deadline);
  return { cs, failures, settled };
}

// The result when the room never filled up (or settled) before the deadline.
function notJoined(cs, clients, failures) {
  return { clients, joined: cs.length, ...failed(failures), complete: false };
}

function failed(failures) {
  return { failed: failures.length, failures: failures.slice(0, 5) };
}

// One sender, a bounded window of unacked messages, everyone receives.
async function fanout(ctx, { clients, messages, window = 64, concurrency = 50 }) {
  const tracker = new Tracker(messages);
  const { cs, failures, settled } = await joinRoom(ctx, tracker, clients, concurrency);
  if (!settled) return notJoined(cs, clients, failures);
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  const sender = cs[0];
  let sent = 0;
  let acked = 0;
  let refused = 0;
  const pump = () => {
    while (sent < messages && sent - acked < window && !sender.closed) {
      sender.sendWithAck("message", text(sent++), (reply) => {
        acked++;
        if (!reply || !reply.ok) refused++;
        pump();
      });
    }
  };
  pump();
  const complete = await tracker.done(ctx.deadline);
  const measured = stop();
  await ctx.mark("end");
  return { clients: cs.length, ...failed(failures), messages, window, sent, acked, refused, complete, ...tracker.summary(), ...measured };
}

// One sender at a fixed rate on a timer (open loop, no acks), everyone
// receives. With `slow`, bench/loadgen.py adds a client that stops reading.
async function rate(ctx, { clients, hz, seconds, bytes = 0, drain = 20, slow = false, concurrency = 50 }) {
  const count = Math.round(hz * seconds);
  const tracker = new Tracker(count);
  const { cs, failures, settled } = await joinRoom(ctx, tracker, clients, concurrency);
  if (!settled) return notJoined(cs, clients, failures);
  if (slow) {
    await ctx.mark("slow");
    await tracker.flush(cs[0], ctx.deadline);
  }
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  const sender = cs[0];
  const t0 = performance.now();
  const period = 1000 / hz;
  let sent = 0;
  let lagMax = 0;
  let lagAt = 0;
  let lagged = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < count && t0 + sent * period <= now) {
        const lag = now - (t0 + sent * period);
        if (lag > lagMax) [lagMax, lagAt] = [lag, sent];
        if (lag > 10) lagged++;
        sender.send("message", text(sent++, bytes));
      }
      if (sent < count && now < ctx.deadline) setTimeout(tick, Math.max(0, t0 + sent * period - performance.now()));
      else resolve();
    };
    tick();
  });
  const sentAt = performance.now();
  const complete = await tracker.done(Math.min(ctx.deadline, sentAt + drain * 1000));
  const measured = stop();
  await ctx.mark("end"); // loadgen.py may watch the slow client a while longer
  const leave = tracker.leaves.find((l) => l.text.includes('"slow"'));
  return {
    clients: cs.length,
    ...failed(failures),
    hz,
    bytes,
    sent,
    send_seconds: (sentAt - t0) / 1000,
    send_lag_max_ms: lagMax,
    send_lag_max_at: lagAt,
    sends_late_10ms: lagged,
    drained_s: tracker.lastAt > sentAt ? (tracker.lastAt - sentAt) / 1000 : 0,
    slow_leave_s: leave ? (leave.at - t0) / 1000 : null,
    complete,
    ...tracker.summary(),
    ...measured,
  };
}

// `clients` connect and join, `concurrency` at a time; done when a flush
// marker sent after the last join has reached everyone.
async function joinstorm(ctx, { clients, concurrency = 50 }) {
  const tracker = new Tracker(0);
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  const { cs, failures, settled } = await joinRoom(ctx, tracker, clients, concurrency, 1);
  const measured = stop();
  await ctx.mark("end");
  return { clients, joined: cs.length, ...failed(failures), complete: settled && cs.length === clients, ...measured };
}

// `clients` connect to the namespace and stay idle (no join).
async function idle(ctx, { clients, concurrency = 50, settle = 2 }) {
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  const { clients: cs, failures } = await connectMany(ctx.url, clients, {
    hooks: { message() {} },
    concurrency,
    deadline: ctx.deadline,
  });
  const connecting = stop(); // the load generator's CPU while it had work
  await sleep(settle * 1000);
  const open = cs.filter((c) => !c.closed).length;
  await ctx.mark("end");
  return { clients, connected: cs.length, open, ...failed(failures), complete: open === clients, ...connecting, settle_s: settle };
}

// `senders` of the clients send `messages` each, one at a time, each
// waiting for its ack (closed loop); everyone receives.
async function acked(ctx, { clients, senders, messages, concurrency = 50 }) {
  const tracker = new Tracker(senders * messages);
  const { cs, failures, settled } = await joinRoom(ctx, tracker, clients, concurrency);
  if (!settled) return notJoined(cs, clients, failures);
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  let ok = 0;
  let refused = 0;
  await Promise.all(
    cs.slice(0, senders).map(async (client, s) => {
      for (let k = 0; k < messages && performance.now() < ctx.deadline; k++) {
        const reply = await client.request("message", text(s * messages + k), ctx.deadline - performance.now()).catch(() => null);
        if (reply && reply.ok) ok++;
        else refused++;
      }
    }),
  );
  const ackedS = stop().seconds;
  const complete = await tracker.done(ctx.deadline);
  const measured = stop();
  await ctx.mark("end");
  return {
    clients: cs.length,
    ...failed(failures),
    senders,
    messages: senders * messages,
    acked: ok,
    refused,
    complete,
    messages_per_s: ok / ackedS,
    deliveries_per_s: tracker.received / measured.seconds,
    ...tracker.summary(),
    ...measured,
  };
}

// The soak (make soak, bench/soak.py): `clients` in `rooms` rooms of equal
// size, one sender per room, `hz` messages a second in all, for `seconds`.
// Every `window_s` it prints {"window": ...}: deliveries and latency then.
async function soak(ctx, { clients, rooms, hz, seconds, window_s = 10, drain = 20, concurrency = 50 }) {
  const count = Math.round(hz * seconds);
  const perRoom = Math.floor(count / rooms);
  const trackers = Array.from({ length: rooms }, () => new Tracker(perRoom));
  // Client i joins as u<i>, the (i / rooms)-th of room i % rooms. The rooms
  // fill one after the other.
  const members = [];
  const failures = [];
  for (let r = 0; r < rooms; r++) {
    const joined = await connectMany(ctx.url, Math.max(0, Math.ceil((clients - r) / rooms)), {
      hooks: { message: (c, data) => trackers[r].deliver(c, data) },
      name: (k) => ({ name: `u${k * rooms + r}`, room: `r${r}`, format: "tutorial" }),
      concurrency,
      deadline: ctx.deadline,
    });
    members.push(joined.clients);
    failures.push(...joined.failures.map((f) => ({ ...f, index: f.index * rooms + r })));
  }
  for (let r = 0; r < rooms; r++) {
    trackers[r].expect(members[r].length);
    if (!members[r].length || !(await trackers[r].flush(members[r][0], ctx.deadline))) {
      return { clients, rooms, ...failed(failures), complete: false, error: `room ${r} did not settle` };
    }
  }
  await ctx.mark("start", { quiesce: true });
  const stop = meter();
  const t0 = performance.now();
  const period = 1000 / hz;
  let sent = 0;
  let windowStart = t0;
  const since = trackers.map(() => 0);
  const report = (now) => {
    const parts = trackers.map((t, r) => t.latencies.subarray(since[r], t.received));
    const window = Float64Array.from(parts.flatMap((p) => Array.from(p))).sort();
    const pct = (p) => percentile(window, p);
    ctx.emit({ window: { t: (now - t0) / 1000, seconds: (now - windowStart) / 1000, deliveries: window.length, p50_ms: pct(50), p99_ms: pct(99) } });
    trackers.forEach((t, r) => (since[r] = t.received));
    windowStart = now;
  };
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < rooms * perRoom && t0 + sent * period <= now) {
        const room = sent % rooms;
        members[room][0].send("message", text(Math.floor(sent / rooms)));
        sent++;
      }
      if (now - windowStart >= window_s * 1000) report(now);
      if (sent < rooms * perRoom && now < ctx.deadline) setTimeout(tick, Math.max(0, Math.min(t0 + sent * period, windowStart + window_s * 1000) - performance.now()));
      else resolve();
    };
    tick();
  });
  const sentAt = performance.now();
  const all = await Promise.all(trackers.map((t) => t.done(Math.min(ctx.deadline, sentAt + drain * 1000))));
  report(performance.now());
  const measured = stop();
  await ctx.mark("end");
  const sum = (key) => trackers.reduce((a, t) => a + t.summary()[key], 0);
  return {
    clients,
    rooms,
    joined: members.reduce((a, m) => a + m.length, 0),
    ...failed(failures),
    hz,
    sent,
    complete: all.every(Boolean),
    expected: sum("expected"),
    received: sum("received"),
    lost: sum("lost"),
    duplicates: sum("duplicates"),
    stray: sum("stray"),
    ...measured,
  };
}

module.exports = { fanout, rate, joinstorm, idle, acked, soak };
