// The Node.js reference: the tutorial's group chat on the official socket.io
// server, with acks, so the benchmark compares like with like. It keeps no
// history (the Node.js server has nothing durable to compare with).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3001);
const server = http.createServer();
const io = new Server(server, { cors: { origin: "*" } });
let nextId = 0;

io.on("connection", (socket) => {
  let name = null;
  socket.on("join", (nick, ack) => {
    if (typeof nick !== "string" || !nick.trim()) {
      if (ack) ack({ ok: false, error: { code: "invalid_name" } });
      return;
    }
    name = nick.trim();
    io.emit("join", name);
    if (ack) ack({ ok: true, name });
  });
  socket.on("message", (text, ack) => {
    if (name === null || typeof text !== "string" || !text.trim()) {
      if (ack) ack({ ok: false, error: { code: "invalid_text" } });
      return;
    }
    const id = ++nextId;
    io.emit("message", `${name}: ${text}`);
    if (ack) ack({ ok: true, id });
  });
});

server.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
