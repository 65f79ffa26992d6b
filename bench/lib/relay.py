#!/usr/bin/env python3
"""A TCP relay that adds DELAY_MS in each direction (2 x DELAY_MS of round trip) between a client and
a server on loopback, without touching the host's qdisc (this kernel has no netem).

Every chunk read from one side is written to the other DELAY_MS after it arrived, as its own write
with TCP_NODELAY, so segment boundaries and the order of bytes are kept. A close is passed on after
the same delay. SIGTERM stops it.

  relay.py LISTEN_PORT TARGET_PORT [DELAY_MS]
"""
import asyncio
import signal
import socket
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            loop.call_later(delay, writer.write, data)
            # Keep memory bounded when the far side is slower than the near one.
            if writer.transport.get_write_buffer_size() > 4 << 20:
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    await asyncio.sleep(delay)
    try:
        writer.write_eof()
    except (ConnectionError, OSError, RuntimeError):
        writer.close()


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    delay = (float(sys.argv[3]) if len(sys.argv) > 3 else 10.0) / 1000

    async def handle(c_reader, c_writer):
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            c_writer.close()
            return
        nodelay(c_writer)
        nodelay(s_writer)
        await asyncio.gather(pipe(c_reader, s_writer, delay), pipe(s_reader, c_writer, delay))
        for w in (c_writer, s_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
