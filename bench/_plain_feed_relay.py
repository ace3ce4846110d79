"""The feed benchmark's peer: the same frames relayed through the same two hops with no security.

``python -m bench._plain_feed_relay LISTEN_PORT [FORWARD_PORT]``: plain uvloop TCP streams, no TLS, no
crypto, no durable log, no checks. Every frame is parsed and re-framed (as the secure hub does). With
FORWARD_PORT the relay forwards every frame it receives to that port; without it, it forwards to the
connection that sent a SUB frame (the subscriber).
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvloop

from accord.feed.frame import SUB, FrameReader, frame


async def main() -> None:
    listen = int(sys.argv[1])
    forward = int(sys.argv[2]) if len(sys.argv) > 2 else None
    sinks: list[asyncio.StreamWriter] = []
    if forward is not None:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", forward)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise SystemExit(f"cannot reach {forward}")
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sinks.append(w)

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = FrameReader()
        while True:
            data = await r.read(1 << 16)
            if not data:
                return
            out = []
            for ftype, body in reader.feed(data):
                if ftype == SUB:
                    sinks.append(w)
                    continue
                out.append(frame(ftype, body))
            if out and sinks:
                sinks[-1].write(b"".join(out))
                if sinks[-1].transport.get_write_buffer_size() > 1 << 20:
                    await sinks[-1].drain()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main())
