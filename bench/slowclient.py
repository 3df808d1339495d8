"""A Socket.IO client that joins a room and then never reads its socket again.

Written on a plain socket, not in the Node.js load generator, so that its
receive buffer can be made small (``SO_RCVBUF`` before connecting; Node.js
has no such option for TCP). The loopback's default buffers would otherwise
soak up tens of megabytes before the server notices anything.

Whether the server gave up on it is read from ``/proc/net/tcp``: the
server's end of the connection leaves ESTABLISHED once the server closes it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


NAME = "slow"
"""Its nickname: bench/scenarios.js finds its leave by it."""
RCVBUF = 4096
TIMEOUT_S = 10.0
"""For each read and write on its socket (all of them while it joins)."""
MAX_FRAMES = 10_000
"""Frames read while waiting for an answer before giving up."""


class SlowClient:
    def __init__(self, port: int) -> None:
        self.server_port = port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(("127.0.0.1", port))
        self.port = int(self.sock.getsockname()[1])
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._buf = b""
        self._handshake()
        self._until("0")  # Engine.IO OPEN
        self._send("40")
        self._until("40")  # Socket.IO CONNECT answered
        self._send("421" + json.dumps(["join", NAME]))
        reply = json.loads(self._until("431[")[3:])[0]
        if not (isinstance(reply, dict) and reply.get("ok")):
            raise RuntimeError(f"slow client could not join: {reply}")
        # From here on nothing reads self.sock.

    def _handshake(self) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.server_port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self._buf:
            self._fill()
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"no WebSocket upgrade: {head[:80]!r}")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _frame(self) -> tuple[int, bytes]:
        b0, b1 = self._take(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        mask = self._take(4) if b1 & 0x80 else b""
        payload = self._take(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b0 & 0x0F, payload

    def _until(self, prefix: str) -> str:
        """Read text frames until one starts with ``prefix``; answer pings."""
        for _ in range(MAX_FRAMES):
            opcode, payload = self._frame()
            if opcode == 8:
                raise ConnectionError("server sent a WebSocket close")
            if opcode != 1:
                continue
            text = payload.decode()
            if text == "2":
                self._send("3")
            elif text.startswith(prefix):
                return text
        raise RuntimeError(f"no {prefix!r} frame in {MAX_FRAMES} frames")

    def _send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def tcp(self) -> dict[str, Any]:
        """Both ends of this connection as /proc/net/tcp shows them now.

        ``server_state`` is None once the server's end is gone altogether.
        """
        ours = f"0100007F:{self.port:04X}"
        theirs = f"0100007F:{self.server_port:04X}"
        found: dict[str, Any] = {"server_state": None, "client_state": None}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            tx, rx = (int(q, 16) for q in queues.split(":"))
            if local == theirs and remote == ours:
                found |= {"server_state": TCP_STATES.get(state, state)}
                found |= {"server_send_queue": tx}
            elif local == ours and remote == theirs:
                found |= {"client_state": TCP_STATES.get(state, state)}
                found |= {"client_receive_queue": rx}
        return found

    def close(self) -> None:
        self.sock.close()
