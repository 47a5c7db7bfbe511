"""Generated request ids are unique within a process and across forked workers."""

from __future__ import annotations

import os

from adaptive_gateway.server.proxy import request_id


def test_ids_are_unique_and_well_formed() -> None:
    ids = {request_id({}) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)


def test_a_client_id_is_kept_and_a_bad_one_replaced() -> None:
    assert request_id({"x-request-id": "abc-123"}) == "abc-123"
    assert request_id({"x-request-id": "x" * 200}).startswith("req_")
    assert request_id({"x-request-id": "bad\nid"}).startswith("req_")


def test_forked_workers_do_not_repeat_each_others_ids() -> None:
    request_id({})  # the parent has a prefix already, as a supervisor that preloaded the code does
    seen: list[str] = []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            os.write(write, request_id({}).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        seen.append(os.read(read, 100).decode())
        os.close(read)
    parent = request_id({})
    assert len({seen[0][:16], seen[1][:16], parent[:16]}) == 3  # three different process prefixes
