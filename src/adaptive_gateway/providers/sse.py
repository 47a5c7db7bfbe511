"""Incremental Server-Sent Events and NDJSON splitting over arbitrary byte chunks."""

from __future__ import annotations


class SSEDecoder:
    """Feed raw bytes; get complete ``(event, data)`` pairs. Handles ``\\n\\n`` and ``\\r\\n\\r\\n``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        buf = self._buf + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        *complete, self._buf = buf.split(b"\n\n")
        out = []
        for block in complete:
            event, data = "", []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
                elif line.startswith(b"event:"):
                    event = line[6:].strip().decode()
            if data:
                out.append((event, b"\n".join(data)))
        return out

    def close(self) -> list[tuple[str, bytes]]:
        rest, self._buf = self._buf, b""
        return self.feed(rest + b"\n\n") if rest.strip() else []


class NDJSONDecoder:
    """Feed raw bytes; get complete JSON lines (as bytes)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return [line for line in lines if line.strip()]

    def close(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest.strip() else []
