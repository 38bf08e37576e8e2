"""The client's side of a frame-level test, as the test servers log it: the
frames a client sent (type, stream, flags, length, error code or window
increment), split from the raw bytes read off the socket."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import h2.errors

__all__ = ["CANCEL", "FRAME_TYPES", "PREFACE", "Frame", "FrameTap"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_TYPES = {
    0: "DATA",
    1: "HEADERS",
    2: "PRIORITY",
    3: "RST_STREAM",
    4: "SETTINGS",
    5: "PUSH_PROMISE",
    6: "PING",
    7: "GOAWAY",
    8: "WINDOW_UPDATE",
    9: "CONTINUATION",
}
CANCEL = int(h2.errors.ErrorCodes.CANCEL)


@dataclass(frozen=True)
class Frame:
    """One frame the client sent."""

    type: str
    stream_id: int
    flags: int
    length: int
    #: RST_STREAM / GOAWAY error code, WINDOW_UPDATE increment.
    value: int = 0


class FrameTap:
    """Splits the client's bytes into frames for the log."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._preface = len(PREFACE)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        if self._preface:
            take = min(self._preface, len(buf))
            del buf[:take]
            self._preface -= take
        frames = []
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            kind = FRAME_TYPES.get(buf[3], f"0x{buf[3]:x}")
            flags = buf[4]
            stream_id = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(buf[9 : 9 + length])
            value = 0
            if kind == "RST_STREAM":
                value = struct.unpack("!I", payload[:4])[0]
            elif kind == "WINDOW_UPDATE":
                value = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
            elif kind == "GOAWAY":
                value = struct.unpack("!I", payload[4:8])[0]
            frames.append(Frame(kind, stream_id, flags, length, value))
            del buf[: 9 + length]
        return frames
