#!/usr/bin/env node
// A real Node.js Socket.IO client (the official socket.io-client package)
// driving the chat server, for tests/integration/test_node_client.py.
//
//   node client.mjs URL websocket|polling
//                   [--scenario full|peer|burst|recover|roster|admin]
//                   [--name N] [--peer P] [--expect TEXT] [--reply TEXT]
//                   [--count N] [--timeout MS] [--path /socket.io]
//                   [--user U --password P]
//
// full (default): two sockets in one process join, chat, and check acks,
//   broadcasts and an invalid message. Prints one JSON object.
// peer: one socket joins as --name and prints {"event":"ready"}; it waits for
//   a message from --peer saying --expect, prints {"event":"received"}, then
//   sends --reply and prints the final JSON object.
// burst: one socket joins as --name and emits --count lines back to back,
//   each asking for an ack (over polling they pile up into one POST while
//   another is in flight); prints the acks and the chat events it got back.
// admin: the Admin UI's own connection (@socket.io/admin-ui's UI speaks
//   socket.io-client): it connects to /admin with --user and --password,
//   prints {"event":"ready", "config": ...}, then {"event": e, "args": [...]}
//   for every server_stats, socket_connected and socket_disconnected, until
//   the test ends it (or --timeout fails it).
//
// Every line on stdout is JSON. The last one has "ok"; the exit code is 0
// only when it is true. A hard timeout ends the run with a failure.
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scenario: { type: "string", default: "full" },
    name: { type: "string", default: "" },
    peer: { type: "string", default: "" },
    expect: { type: "string", default: "" },
    reply: { type: "string", default: "" },
    count: { type: "string", default: "40" },
    timeout: { type: "string", default: "10000" },
    path: { type: "string", default: "/socket.io" },
    blip: { type: "boolean", default: false },
    spectate: { type: "boolean", default: false },
    delay: { type: "string", default: "1500" },
    "reply-to": { type: "string", default: "" },
    user: { type: "string", default: "admin" },
    password: { type: "string", default: "" },
  },
});
const [url, transport] = positionals;
const sockets = [];
const steps = [];
let finished = false;

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function finish(result) {
  if (finished) return;
  finished = true;
  clearTimeout(hardTimeout);
  // Disconnect cleanly, so the server sees us leave now rather than after a
  // heartbeat timeout. Over polling, the Socket.IO DISCONNECT and then the
  // Engine.IO close each take a POST: wait for the last one (python-engineio
  // holds the pending GET open, so Node would not exit by itself for a
  // while). A WebSocket closes by itself. Either way the wait is capped.
  const flushed = [];
  for (const s of sockets) {
    const engine = s.io.engine;
    const transport = engine && engine.transport;
    if (s.connected && transport && transport.name === "polling") {
      // The engine closes once DISCONNECT is sent; the close POST is then in
      // flight and its completion is the transport's next "drain".
      flushed.push(
        new Promise((r) => engine.once("close", () => transport.once("drain", r))),
      );
    }
    s.disconnect();
  }
  say(result);
  process.exitCode = result.ok ? 0 : 1;
  const exit = () => process.stdout.write("", () => process.exit());
  Promise.all(flushed).then(exit);
  setTimeout(exit, 1000).unref();
}

function fail(error) {
  finish({
    ok: false,
    error: String(error && error.stack ? error.stack : error),
    steps,
  });
}

function check(condition, what, detail) {
  if (!condition) {
    throw new Error(`${what}: ${JSON.stringify(detail)}`);
  }
}

const hardTimeout = setTimeout(
  () => fail(`timed out after ${opts.timeout} ms`),
  Number(opts.timeout),
);
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

const usage = !url || !["websocket", "polling"].includes(transport);
if (usage) fail("usage: client.mjs URL websocket|polling [--scenario full|peer|burst]");

// A socket that records every event so a later wait sees earlier arrivals.
function open(label) {
  const socket = io(url, {
    path: opts.path,
    transports: [transport],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
  const inbox = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    inbox.push({ event, data: args[0] });
    for (const w of [...waiters]) w();
  });
  sockets.push(socket);

  // The first `event` (received so far or later) whose payload matches.
  function wait(event, match = () => true, ms = 5000) {
    return new Promise((resolve, reject) => {
      const look = () => {
        const hit = inbox.find((m) => m.event === event && match(m.data));
        if (!hit) return false;
        waiters.splice(waiters.indexOf(look), 1);
        clearTimeout(timer);
        resolve(hit.data);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(look), 1);
        const seen = inbox.map((m) => m.event);
        reject(new Error(`${label}: no ${event} within ${ms} ms; got ${seen}`));
      }, ms);
      waiters.push(look);
      look();
    });
  }

  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) =>
      reject(new Error(`${label}: connect_error ${err.message}`)),
    );
  });

  return {
    socket,
    inbox,
    wait,
    connected,
    count: (event, match = () => true) =>
      inbox.filter((m) => m.event === event && match(m.data)).length,
    call: (event, data) => socket.timeout(5000).emitWithAck(event, data),
    transport: () => socket.io.engine.transport.name,
  };
}

// A bare nickname is the tutorial's join (string events); an object asks
// for structured events, or both.
async function join(client, name, payload = name) {
  await client.connected;
  steps.push(`${name} connected`);
  const reply = await client.call("join", payload);
  check(reply && reply.ok === true, `${name} join ack`, reply);
  check(reply.name === name, `${name} join ack name`, reply);
  if (typeof payload === "string" || payload.format === "both") {
    await client.wait("join", (n) => n === name);
  } else {
    await client.wait("user_joined", (u) => u.name === name);
  }
  const history = await client.wait("history");
  check(Array.isArray(history.messages), "history.messages", history);
  check(history.catchup === false, "history.catchup", history);
  steps.push(`${name} joined`);
  return reply;
}

async function full() {
  const suffix = String(process.pid);
  const aliceName = opts.name || `node-a-${suffix}`;
  const bobName = opts.peer || `node-b-${suffix}`;
  const text = `hello from node over ${transport}`;

  // Alice is the tutorial's page; Bob is another frontend (structured).
  const alice = open(aliceName);
  const aliceJoin = await join(alice, aliceName);
  const bob = open(bobName);
  const bobJoin = await join(bob, bobName, { name: bobName });
  // Alice hears Bob arrive; Bob got the whole list once, in his welcome.
  await alice.wait("join", (n) => n === bobName);
  const users = await bob.wait("history");
  steps.push("presence");

  const ack = await alice.call("message", text);
  check(ack && ack.ok === true, "message ack", ack);
  check(Number.isInteger(ack.id) && ack.id > 0, "message ack id", ack);
  steps.push("message ack");

  const line = `${aliceName}: ${text}`;
  const isOurs = (m) => m && m.id === ack.id;
  const results = {};
  results.alice = { message: await alice.wait("message", (m) => m === line) };
  const chat = await bob.wait("chat", isOurs);
  check(chat.name === aliceName && chat.text === text, "bob chat", chat);
  check(chat.room === ack.room && chat.ts === ack.ts, "bob chat room/ts", { chat, ack });
  results.bob = { chat };
  steps.push("broadcast received by both");

  const bad = await alice.call("message", "");
  check(bad && bad.ok === false, "empty message ack", bad);
  check(
    bad.error && typeof bad.error.code === "string" && bad.error.message,
    "empty message error",
    bad,
  );
  steps.push("empty message refused");

  // Without an ack the same error comes back as a chat_error event.
  alice.socket.emit("message", "   ");
  const chatError = await alice.wait("chat_error", (e) => e.event === "message");
  check(chatError.code === bad.error.code, "chat_error code", chatError);
  steps.push("chat_error without ack");

  // One copy each, in the form each asked for; nothing for the refused ones.
  const counts = {
    alice: [alice.count("message"), alice.count("chat")],
    bob: [bob.count("message"), bob.count("chat")],
  };
  check(
    counts.alice.join() === "1,0" && counts.bob.join() === "0,1",
    "one line each, in its form",
    counts,
  );

  finish({
    ok: true,
    scenario: "full",
    transport: alice.transport(),
    names: [aliceName, bobName],
    join: aliceJoin,
    join_bob: bobJoin,
    users: users.users,
    ack,
    received: results,
    bad,
    chat_error: chatError,
    steps,
  });
}

async function peer() {
  check(opts.name && opts.peer && opts.expect, "peer needs --name --peer --expect", opts);
  const me = open(opts.name);
  const joined = await join(me, opts.name, { name: opts.name, format: "both" });
  say({ event: "ready", name: opts.name, transport: me.transport() });

  const timeout = Number(opts.timeout);
  const chat = await me.wait(
    "chat",
    (m) => m.name === opts.peer && m.text === opts.expect,
    timeout,
  );
  const message = await me.wait(
    "message",
    (m) => m === `${opts.peer}: ${opts.expect}`,
  );
  say({ event: "received", chat, message });

  let ack = null;
  if (opts.reply) {
    ack = await me.call("message", opts.reply);
    check(ack && ack.ok === true, "reply ack", ack);
    await me.wait("chat", (m) => m.id === ack.id);
  }
  finish({
    ok: true,
    scenario: "peer",
    transport: me.transport(),
    join: joined,
    chat,
    message,
    ack,
    steps,
  });
}

async function burst() {
  const name = opts.name || `node-burst-${process.pid}`;
  const me = open(name);
  await join(me, name, { name, format: "structured" });
  const texts = Array.from({ length: Number(opts.count) }, (_, i) => `line ${i}`);
  const acks = await Promise.all(texts.map((text) => me.call("message", text)));
  for (const ack of acks) check(ack && ack.ok === true, "burst ack", ack);
  await me.wait("chat", (m) => m.id === acks[acks.length - 1].id);
  finish({
    ok: true,
    scenario: "burst",
    transport: me.transport(),
    acks,
    chats: me.inbox.filter((m) => m.event === "chat").map((m) => m.data),
    steps,
  });
}

// A plain io() that reconnects by itself after --delay ms.
function reconnecting() {
  const socket = io(url, {
    path: opts.path,
    transports: [transport],
    forceNew: true,
    reconnectionDelay: Number(opts.delay),
    randomizationFactor: 0,
  });
  sockets.push(socket);
  return socket;
}

// Once a line says --expect: close the transport under the socket (a
// network blip) and print {"event":"dropped"}.
function blip(socket, ids, text) {
  if (opts.blip && text === opts.expect && ids.length === 1) {
    socket.io.engine.close();
    say({ event: "dropped" });
  }
}

// On the first connect, start(); after a reconnect, print {"event":"back"}
// with socket.recovered and socket.id.
function connects(socket, ids, start) {
  const state = { last: null };
  socket.on("connect", () => {
    ids.push(socket.id);
    if (ids.length === 1) {
      start();
    } else {
      state.last = { recovered: socket.recovered, id: socket.id };
      say({ event: "back", ...state.last });
    }
  });
  return state;
}

// recover: the tutorial's page, as a script: a plain io() that emits "join"
// once, at the start (with --spectate, never: a page that only reads). Prints
// {"event":"ready"}; with --blip, once it has --expect it drops and comes
// back (see blip, connects). On a line saying --reply-to it sends --reply
// and prints every "message" it got (with its offset) as the final object;
// a spectator prints it at once.
async function recover() {
  const name = opts.name || `node-recover-${process.pid}`;
  const socket = reconnecting();
  const messages = [];
  const ids = [];
  const done = () =>
    finish({ ok: true, scenario: "recover", messages, ids, last: state.last, steps });
  socket.on("message", (text, offset) => {
    messages.push([text, offset]);
    blip(socket, ids, text.slice(text.indexOf(": ") + 2));
    if (text.endsWith(`: ${opts["reply-to"]}`)) {
      if (opts.spectate) done();
      else socket.emit("message", opts.reply);
    }
    if (text === `${name}: ${opts.reply}`) done();
  });
  const state = connects(socket, ids, () => {
    if (opts.spectate) return say({ event: "ready", id: socket.id });
    socket.emit("join", name);
    socket.once("history", () => say({ event: "ready", id: socket.id }));
  });
}

async function admin() {
  const socket = io(`${url}/admin`, {
    path: opts.path,
    transports: [transport],
    reconnection: false,
    forceNew: true,
    auth: { username: opts.user, password: opts.password },
  });
  sockets.push(socket);
  socket.on("connect_error", (err) => fail(`admin: connect_error ${err.message}`));
  socket.on("config", (config) => say({ event: "ready", config }));
  for (const event of ["server_stats", "socket_connected", "socket_disconnected"]) {
    socket.on(event, (...args) => say({ event, args }));
  }
}


// roster: another frontend (structured events) that keeps the list of
// people as the chat page does: the whole list from "history", then each
// join and leave. Joins as --name and prints {"event":"ready"}; with --blip
// it drops once a line says --expect and comes back; on a line saying
// --reply-to it prints the list as the final object.
async function roster() {
  const name = opts.name || `node-roster-${process.pid}`;
  const socket = reconnecting();
  const ids = [];
  let people = [];
  const rosters = [];
  socket.on("history", (h) => {
    people = [...h.users];
    rosters.push(h.users);
  });
  socket.on("user_joined", (u) => {
    if (!people.includes(u.name)) people.push(u.name);
  });
  socket.on("user_left", (u) => {
    people = people.filter((n) => n !== u.name);
  });
  socket.on("chat", (m) => {
    blip(socket, ids, m.text);
    if (m.text === opts["reply-to"]) {
      finish({ ok: true, scenario: "roster", people, rosters, ids, last: state.last, steps });
    }
  });
  const state = connects(socket, ids, () => {
    socket.emit("join", { name, format: "structured" });
    socket.once("history", () => say({ event: "ready", id: socket.id }));
  });
}

const scenarios = { full, peer, burst, recover, roster, admin };
const run = scenarios[opts.scenario];
if (!run) fail(`unknown scenario ${opts.scenario}`);
else if (!usage) run().catch(fail);
