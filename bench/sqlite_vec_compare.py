"""The semantic index's search against sqlite-vec's (docs/cache.md, "Why SQLite rows plus numpy").

N unit vectors of 384 float32 in one partition, the nearest to a perturbed copy of one of them: sqlite-vec's
``vec0`` (cosine, k=1), in memory and from a file, against the numpy matrix-vector product
``cache/semantic.py`` runs. sqlite-vec is not a dependency of the gateway; this needs it and a SQLite
binding that can load extensions, in a scratch environment:

    python -m venv /tmp/vec && /tmp/vec/bin/pip install apsw sqlite-vec numpy
    /tmp/vec/bin/python bench/sqlite_vec_compare.py        # N=20000 ROUNDS=30
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

N = int(os.environ.get("N", "20000"))
SQL = "SELECT rowid FROM v WHERE embedding MATCH ? AND bucket = 'b' AND k = 1"
ROUNDS = int(os.environ.get("ROUNDS", "30"))
DIMS = 384


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    try:
        import apsw
        import sqlite_vec
    except ImportError:
        sys.exit("needs apsw and sqlite-vec: see this file's docstring")
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((N, DIMS)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[N // 2] + 0.01 * rng.standard_normal(DIMS).astype(np.float32)
    query /= np.linalg.norm(query)
    expected = int(np.argmax(matrix @ query)) + 1
    print(f"{N:,} vectors of {DIMS} float32, k=1, median of {ROUNDS}")
    with tempfile.TemporaryDirectory() as tmp:
        for where in (":memory:", str(Path(tmp) / "vec.db")):
            db = apsw.Connection(where)
            db.enable_load_extension(True)
            db.load_extension(sqlite_vec.loadable_path())
            db.execute(
                f"CREATE VIRTUAL TABLE v USING vec0(bucket text partition key, "
                f"embedding float[{DIMS}] distance_metric=cosine)"
            )
            with db:
                db.executemany(
                    "INSERT INTO v(rowid, bucket, embedding) VALUES (?, 'b', ?)",
                    [(i + 1, matrix[i].tobytes()) for i in range(N)],
                )
            found = db.execute(SQL, (query.tobytes(),)).fetchall()[0][0]
            ms = median_ms(lambda db=db: db.execute(SQL, (query.tobytes(),)).fetchall())
            name = "in memory" if where == ":memory:" else "from a file"
            print(f"sqlite-vec {sqlite_vec.__version__} vec0, {name:12} {ms:7.2f} ms  (row {found})")
            db.close()
    ms = median_ms(lambda: int(np.argmax(matrix @ query)))
    print(f"numpy matrix @ vector            {ms:7.2f} ms  (row {expected})")


if __name__ == "__main__":
    main()
