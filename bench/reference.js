// The Node.js reference: the tutorial's group chat on the official socket.io
// server, with acks, so the benchmark compares like with like. It keeps no
// history (the Node.js server has nothing durable to compare with).
//
// `join` takes a nickname (the tutorial: one room, everyone) or
// { name, room } (bench/swarm.js's rooms): then the socket joins that
// socket.io room and its notices and messages go to that room only, as ours.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3001);
const server = http.createServer();
const io = new Server(server, { cors: { origin: "*" } });
let nextId = 0;

io.on("connection", (socket) => {
  let name = null;
  let to = io;
  socket.on("join", (what, ack) => {
    const nick = what && typeof what === "object" ? what.name : what;
    const room = what && typeof what === "object" ? what.room : null;
    if (typeof nick !== "string" || !nick.trim() || (room !== null && typeof room !== "string")) {
      if (ack) ack({ ok: false, error: { code: "invalid_name" } });
      return;
    }
    name = nick.trim();
    if (room !== null) {
      socket.join(room);
      to = io.to(room);
    }
    to.emit("join", name);
    if (ack) ack({ ok: true, name });
  });
  socket.on("message", (text, ack) => {
    if (name === null || typeof text !== "string" || !text.trim()) {
      if (ack) ack({ ok: false, error: { code: "invalid_text" } });
      return;
    }
    const id = ++nextId;
    to.emit("message", `${name}: ${text}`);
    if (ack) ack({ ok: true, id });
  });
});

server.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
