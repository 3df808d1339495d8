// A minimal Socket.IO v5 / Engine.IO v4 client over the `ws` package, cheap
// enough that one Node process can hold thousands of connections and still
// not be the bottleneck. It answers pings, sends events with or without an
// ack id, and only looks closely at the frames the benchmark counts:
// `42["message",...]` and `42["leave",...]`; everything else is skipped by
// its first bytes.
"use strict";
const WebSocket = require("ws");

const MESSAGE = Buffer.from('42["message","');
const LEAVE = Buffer.from('42["leave","');

function startsWith(data, prefix) {
  return data.length > prefix.length && prefix.compare(data, 0, prefix.length, 0, prefix.length) === 0;
}

class Client {
  // hooks: { message(client, data: Buffer), leave(client, data: Buffer) }
  constructor(url, index, hooks) {
    this.url = `${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
    this.index = index;
    this.hooks = hooks;
    this.ws = null;
    this.nextAck = 1;
    this.acks = new Map();
    this.connected = false;
    this.closed = false;
  }

  // Resolves once the namespace CONNECT is answered (`40{"sid":...}`).
  connect(timeoutMs = 20_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error("connect timed out")), timeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        if (this.ws) this.ws.terminate();
        reject(err);
      };
      const ws = new WebSocket(this.url, { perMessageDeflate: false, skipUTF8Validation: true });
      this.ws = ws;
      ws.on("error", (err) => {
        if (!this.connected) fail(err);
      });
      ws.on("close", (code) => {
        this.closed = true;
        for (const cb of this.acks.values()) cb(null);
        this.acks.clear();
        if (!this.connected) fail(new Error(`closed before connect (${code})`));
      });
      this.onConnect = () => {
        clearTimeout(timer);
        this.connected = true;
        resolve(this);
      };
      ws.on("message", (data) => this.frame(data));
    });
  }

  frame(data) {
    const b0 = data[0];
    if (b0 === 0x32 /* 2: ping */) {
      this.ws.send("3");
    } else if (b0 === 0x34 /* 4: Socket.IO packet */) {
      const b1 = data[1];
      if (b1 === 0x32 /* 42: event */) {
        if (startsWith(data, MESSAGE)) this.hooks.message(this, data);
        else if (this.hooks.leave && startsWith(data, LEAVE)) this.hooks.leave(this, data);
      } else if (b1 === 0x33 /* 43: ack */) {
        const text = data.toString();
        const open = text.indexOf("[");
        const id = Number(text.slice(2, open));
        const cb = this.acks.get(id);
        if (cb) {
          this.acks.delete(id);
          cb(JSON.parse(text.slice(open))[0]);
        }
      } else if (b1 === 0x30 /* 40: connected */) {
        if (this.onConnect) this.onConnect();
      } else if (b1 === 0x34 /* 44: connect error */) {
        this.ws.close();
      }
    } else if (b0 === 0x30 /* 0: open */) {
      this.ws.send("40");
    }
  }

  send(event, data) {
    this.ws.send(`42${JSON.stringify([event, data])}`);
  }

  // cb(reply) is called with the ack's first argument, or null if the
  // connection closed first.
  sendWithAck(event, data, cb) {
    const id = this.nextAck++;
    this.acks.set(id, cb);
    this.ws.send(`42${id}${JSON.stringify([event, data])}`);
  }

  request(event, data, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${event} ack timed out`)), timeoutMs);
      this.sendWithAck(event, data, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  // `what`: a nickname, or { name, room, format }.
  async join(what) {
    const reply = await this.request("join", what);
    if (!reply || !reply.ok) {
      throw new Error(`join ${typeof what === "string" ? what : JSON.stringify(what)}: ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  close() {
    if (this.ws && !this.closed) this.ws.terminate();
  }
}

// Connect `count` clients, at most `concurrency` at a time, and join each
// with `name(i)` if given (see join()). Stops early at `deadline`
// (performance.now()).
// Returns { clients, failures } with clients in index order (holes removed).
// ``url`` may list several servers, comma-separated (processes sharing a
// Redis): client i goes to the i-th, round robin.
async function connectMany(url, count, { hooks, name, concurrency = 50, deadline = Infinity }) {
  const urls = url.split(",");
  const clients = new Array(count);
  const failures = [];
  let next = 0;
  async function worker() {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      const client = new Client(urls[i % urls.length], i, hooks);
      try {
        await client.connect();
        if (name) await client.join(name(i));
        clients[i] = client;
      } catch (err) {
        client.close();
        failures.push({ index: i, error: String(err.message || err) });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { clients: clients.filter(Boolean), failures };
}

module.exports = { Client, connectMany };
