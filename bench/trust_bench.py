"""Microbenchmark: microseconds per DetectorSet.scan of a typical 4 KB prompt.

Run: ``.venv/bin/python bench/trust_bench.py``. Prints min, median and p95 over 3000 runs for a
clean prompt (the common, no-finding path: prose, Python code, a config dict and a traceback), for
the same prompt with a few findings mixed in, and for 4 KB of comma-separated numbers (the worst
case: every digit run is a candidate for the number rules); then the prompt-injection heuristics on
the clean prompt and on its first 900 characters. docs/trust.md records the numbers.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from adaptive_gateway.trust.detectors import DetectorSet
from adaptive_gateway.trust.injection import InjectionDetector

_PROSE = (
    "I'm refactoring the request pipeline and the retry logic keeps replaying a stream that has "
    "already started. Can you look at the function below, explain why the backoff is computed "
    "twice, and suggest a version that respects Retry-After headers? We run Python 3.11 on "
    "Ubuntu 22.04, uvicorn 0.30 and httpx 0.27; the p95 latency went from 180 ms to 1.2 s after "
    "the 2.4.1 release on 2024-03-18. Keep the public API the same, please.\n\n"
)
_CODE = '''async def send_with_retries(client, request, *, attempts=3, base_delay=0.25):
    """Send a request, retrying on 429 and 5xx with exponential backoff."""
    for attempt in range(1, attempts + 1):
        response = await client.send(request, stream=True)
        if response.status_code < 500 and response.status_code != 429:
            return response
        retry_after = response.headers.get("retry-after")
        delay = float(retry_after) if retry_after else base_delay * 2 ** (attempt - 1)
        await response.aclose()
        logger.warning("attempt %d/%d failed with %s; sleeping %.2fs", attempt, attempts,
                       response.status_code, delay)
        await asyncio.sleep(min(delay, 30.0))
    raise UpstreamError(f"gave up after {attempts} attempts: {request.url}")

config = {"timeout": 12.5, "max_connections": 100, "model": "gpt-4o-mini", "max_tokens": 1024,
          "temperature": 0.2, "request_id": "3f2a9c1e-7b4d-4e8a-9f61-0c2d5e8b7a13", "port": 8080}
'''
_TRACE = """Traceback (most recent call last):
  File "/home/dev/project/src/gateway/pipeline/execute.py", line 142, in run
    response = await send_with_retries(client, request)
  File "/home/dev/project/src/gateway/upstream.py", line 88, in send_with_retries
    raise UpstreamError(f"gave up after {attempts} attempts: {request.url}")
gateway.errors.UpstreamError: gave up after 3 attempts: http://localhost:11434/api/chat
commit 9fceb02d0ae598e95dc970b74767f19372d61af8, build #4821, 12 tests failed in 3.42s
"""
_FINDINGS = (
    "\nContact me at jane.doe@example.com or +1 415 555 2671. My staging key is "
    "sk-proj-Q2x8Lm4Np7Rt1Vz9Bc3Df6Gh0Jk5Ws8Ya2Ec4Hu7 and the db is "
    "postgres://app:Tr0ub4dor3@10.0.4.12:5432/main.\n"
)


def _numbers(size: int = 4096) -> str:
    """The detectors' worst case: a CSV of ids, counts, ratios, dates and number triples."""
    rng = random.Random(3)
    rows = []
    while sum(map(len, rows)) < size:
        triple = " ".join(str(rng.randint(100, 999)) for _ in range(3))
        rows.append(
            f"{rng.randint(10**8, 10**9)},{rng.randint(1000, 99999)},{rng.random():.4f},"
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} {triple}\n"
        )
    return "".join(rows)[:size]


def _prompt(size: int = 4096, extra: str = "") -> str:
    body = (_PROSE + _CODE + _TRACE) * 3
    return (extra + body)[:size]


def _measure(scan: Callable[[str], object], text: str, runs: int = 3000) -> tuple[float, float, float]:
    for _ in range(200):
        scan(text)
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        scan(text)
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return samples[0], statistics.median(samples), samples[int(len(samples) * 0.95)]


def main() -> None:
    detectors = DetectorSet()
    clean = _prompt()
    mixed = _prompt(extra=_FINDINGS)
    inputs = (
        ("clean 4 KB prompt", clean),
        ("4 KB prompt with findings", mixed),
        ("4 KB of numbers", _numbers()),
    )
    for label, text in inputs:
        _report(label, text, detectors.scan)
    injection = InjectionDetector(0.7)
    _report("injection, clean 4 KB", clean, injection.scan)
    _report("injection, 900 characters", clean[:900], injection.scan)


def _report(label: str, text: str, scan: Callable[[str], list[Any]]) -> None:
    best, median, p95 = _measure(scan, text)
    print(
        f"{label:28s} {len(text):5d} chars  min {best:6.1f} µs  median {median:6.1f} µs"
        f"  p95 {p95:6.1f} µs  findings {len(scan(text))}"
    )


if __name__ == "__main__":
    main()
