"""The llama.cpp child process: ``python -m adaptive_gateway.embedded.child --model M.gguf --port N``.

xllamacpp has no command-line entry point; its ``Server`` starts llama.cpp's C++ HTTP server on
background threads and returns once the model is loaded and the port is listening. This process then
only waits. It dies with its parent (PR_SET_PDEATHSIG on Linux, plus a parent-pid poll everywhere), so a
killed gateway never leaves an orphan holding ~200 MB. SIGTERM keeps its default action: exit at once.
With ``$ADAPTIVE_GATEWAY_EMBEDDED_KEY`` set, every route but /health requires that bearer key.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time
from typing import Any

_PR_SET_PDEATHSIG = 1
# The API key comes through the environment, not argv, so `ps` does not show it to other users.
KEY_ENV = "ADAPTIVE_GATEWAY_EMBEDDED_KEY"


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    # Also covers the parent dying before prctl ran, and platforms without prctl.
    threading.Thread(target=poll, name="parent-watch", daemon=True).start()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="adaptive_gateway.embedded.child")
    parser.add_argument("--model", required=True, help="path to a .gguf file")
    parser.add_argument("--port", type=int, required=True, help="0 lets llama.cpp pick one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--alias", default="", help="model id reported by /v1/models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx-size", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=512, help="per answer, when a request sets none")
    parser.add_argument("--parent-pid", type=int, default=0)
    return parser.parse_args(argv)


def _params(args: argparse.Namespace) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx_size
    params.n_parallel = args.parallel
    # llama.cpp's default (-1) generates until end of text or a full context: a request without
    # max_tokens to a 135M model could take minutes. A request's own max_tokens still wins.
    params.n_predict = args.max_tokens
    # One shared KV cache: any single request may use the whole context, not ctx_size / parallel.
    params.kv_unified = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.offline = True
    params.ui = False
    if args.alias:
        params.model_alias = {args.alias}
    key = os.environ.pop(KEY_ENV, "")
    if key:
        params.api_keys = [key]  # /health stays public; everything else needs "Authorization: Bearer <key>"
    return params


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    import xllamacpp

    server = xllamacpp.Server(_params(args))
    print(f"listening {server.listening_address}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
