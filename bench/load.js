// Load generator for bench/loadgen.py (which bench/run.py and bench/soak.py
// use), one scenario per process:
//
//   node bench/load.js SCENARIO URL '{"clients": 200, ..., "timeout_s": 120}'
//
// Speaks Engine.IO v4 / Socket.IO v5 over `ws` directly (bench/client.js).
// Talks to loadgen.py in JSON lines: it prints {"mark": name, ...} and waits
// for one line on stdin before going on (so loadgen.py can read the server's
// CPU time and RSS at that moment), then prints {"result": {...}} and exits.
// Scenarios are in bench/scenarios.js (restart: bench/restart.js, idlescale:
// bench/swarm.js, which forks worker processes of its own).
"use strict";
const readline = require("readline");
const scenarios = { ...require("./scenarios"), ...require("./restart"), ...require("./swarm") };

const [name, url, json] = process.argv.slice(2);
const params = JSON.parse(json || "{}");
const scenario = scenarios[name];
if (!scenario || !url) {
  console.error(`usage: load.js {${Object.keys(scenarios).join("|")}} URL JSON`);
  process.exit(2);
}

const replies = [];
const waiting = [];
const stdin = readline.createInterface({ input: process.stdin });
stdin.on("line", (line) => (waiting.length ? waiting.shift()(line) : replies.push(line)));
stdin.on("close", () => waiting.splice(0).forEach((resolve) => resolve("")));

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const ctx = {
  url,
  emit,
  deadline: performance.now() + (params.timeout_s || 120) * 1000,
  mark(mark, extra = {}) {
    emit({ mark, ...extra });
    return new Promise((resolve) => (replies.length ? resolve(replies.shift()) : waiting.push(resolve)));
  },
};

scenario(ctx, params)
  .then((result) => {
    emit({ result });
    process.exit(0);
  })
  .catch((err) => {
    emit({ error: String((err && err.stack) || err) });
    process.exit(1);
  });
