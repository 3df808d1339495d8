// Bookkeeping for `message` deliveries. A sent text is "<seq> <sent ms> x..."
// (performance.now() of this process), so a delivery `"name: <seq> <ms> x"`
// gives its latency, and a per-client bitmap catches loss and duplicates.
// A text "F<k>" is a flush marker: once every client has it, everything the
// server sent them before it has arrived (each connection is in order).
"use strict";

const PREFIX = '42["message","'.length;

function text(seq, bytes = 0) {
  const head = `${seq} ${performance.now().toFixed(3)} x`;
  return bytes > head.length ? head + "x".repeat(bytes - head.length) : head;
}

// The p-th percentile of `sorted` (ascending), null if it is empty.
function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

class Tracker {
  constructor(messages) {
    this.messages = messages;
    this.clients = 0;
    this.expected = 0;
    this.received = 0;
    this.duplicates = 0;
    this.stray = 0;
    this.lastAt = 0;
    this.got = new Uint8Array(0);
    this.latencies = new Float64Array(0);
    this.flushId = 0;
    this.flushed = 0;
    this.onFlushed = null;
    this.onDone = null;
    this.leaves = [];
    this.hooks = {
      message: (client, data) => this.deliver(client, data),
      leave: (client, data) => this.leaves.push({ at: performance.now(), text: data.toString() }),
    };
  }

  // Called once the receiving clients are known (indexes 0..clients-1).
  expect(clients) {
    this.clients = clients;
    this.expected = clients * this.messages;
    this.got = new Uint8Array(this.expected);
    this.latencies = new Float64Array(this.expected);
  }

  deliver(client, data) {
    const now = performance.now();
    const s = data.toString("latin1", PREFIX, PREFIX + 64);
    const i = s.indexOf(": ") + 2;
    if (s.charCodeAt(i) === 0x46 /* F */) {
      if (Number(s.slice(i + 1, s.indexOf('"', i))) === this.flushId && ++this.flushed === this.clients) {
        if (this.onFlushed) this.onFlushed();
      }
      return;
    }
    const j = s.indexOf(" ", i);
    const seq = Number(s.slice(i, j));
    const sent = Number(s.slice(j + 1, s.indexOf(" ", j + 1)));
    const slot = client.index * this.messages + seq;
    if (!(client.index < this.clients && seq >= 0 && seq < this.messages)) {
      this.stray++;
      return;
    }
    if (this.got[slot]) {
      this.duplicates++;
      return;
    }
    this.got[slot] = 1;
    this.latencies[this.received++] = now - sent;
    this.lastAt = now;
    if (this.received === this.expected && this.onDone) this.onDone();
  }

  // Resolves when all expected deliveries arrived, or at `deadline`.
  done(deadline) {
    if (this.received >= this.expected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
      this.onDone = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  // Sends a flush marker from `sender`; resolves true once all `clients`
  // (the first this.clients) have it, false at `deadline`.
  flush(sender, deadline) {
    this.flushId++;
    this.flushed = 0;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
      this.onFlushed = () => {
        clearTimeout(timer);
        resolve(true);
      };
      sender.send("message", `F${this.flushId}`);
    });
  }

  summary() {
    const sorted = this.latencies.subarray(0, this.received).sort();
    const pct = (p) => percentile(sorted, p);
    return {
      expected: this.expected,
      received: this.received,
      lost: this.expected - this.received,
      duplicates: this.duplicates,
      stray: this.stray,
      p50_ms: pct(50),
      p99_ms: pct(99),
      max_ms: pct(100),
    };
  }
}

module.exports = { Tracker, text, percentile };
