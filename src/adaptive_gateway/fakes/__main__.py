"""Run one fake upstream: `python -m adaptive_gateway.fakes openai --port 18001 --latency-ms 20`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Sequence

from adaptive_gateway.fakes.knobs import HEADER_PREFIX, Knobs
from adaptive_gateway.fakes.server import BUILDERS, FakeUpstream, Kind


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m adaptive_gateway.fakes", description=__doc__)
    parser.add_argument("kind", choices=sorted(BUILDERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--record", action="store_true", help="keep requests in memory (off for benchmarks)")
    parser.add_argument("--models", default="", help="comma-separated model names to list")
    for field in dataclasses.fields(Knobs):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, dest=field.name, default=None, metavar="VALUE", help=f"knob {field.name}")
    return parser.parse_args(argv)


def knobs_from(args: argparse.Namespace) -> Knobs:
    """Knobs from the command line, parsed exactly like the `x-fake-*` request headers."""
    given = {
        HEADER_PREFIX + field.name.replace("_", "-"): str(value)
        for field in dataclasses.fields(Knobs)
        if (value := getattr(args, field.name)) is not None
    }
    return Knobs().with_headers(given)


async def serve(args: argparse.Namespace) -> None:
    models = [m for m in args.models.split(",") if m]
    kind: Kind = args.kind
    upstream = FakeUpstream(kind, knobs_from(args), models=models, record=args.record)
    await upstream.start(args.host, args.port)
    print(f"fake {args.kind} upstream listening on {upstream.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await upstream.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
