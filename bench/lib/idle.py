#!/usr/bin/env python3
"""Opens N concurrent SMTP connections that stay idle after the greeting.

Prints "ready greeted=G of N" once every connection has either received its 220 greeting or failed
(bounded by TIMEOUT seconds), then holds them until SIGTERM or HOLD seconds, then closes them.

  idle.py PORT N TIMEOUT HOLD
"""
import asyncio
import resource
import signal
import sys


async def one(port, sem, timeout):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        except (OSError, asyncio.TimeoutError):
            return None
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, asyncio.TimeoutError):
        writer.close()
        return None
    if not line.startswith(b"220"):
        writer.close()
        return None
    return writer


async def main():
    port, n, timeout, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sem = asyncio.Semaphore(200)  # connects in flight, so the listen backlog is not overrun
    writers = await asyncio.gather(*(one(port, sem, timeout) for _ in range(n)))
    live = [w for w in writers if w is not None]
    print(f"ready greeted={len(live)} of {n}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), hold)
    except asyncio.TimeoutError:
        pass
    for w in live:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
