"""Delta frames for many consoles, each message encoded once however many consoles get it."""

from __future__ import annotations

from collections.abc import Sequence

from api.outbound import encode
from tracking.hub import Message

DELTA_HEAD = b'{"type":"delta","messages":['
DELTA_TAIL = b"]}"


class FrameEncoder:
    """Encodes `api.outbound.DeltaMessage` frames from per-message JSON it keeps.

    The hub hands the same message object to every subscriber it reaches, so twenty consoles
    watching one city would otherwise encode each courier update twenty times. Entries are
    keyed by object identity and hold a reference to the object, so an id cannot be reused
    while cached; two generations bound the memory. Not thread-safe: the event loop's writers
    use it.

    Whole frames are kept too: consoles with the same subscription drain the same messages at
    the same tick (`api.ws_common.Writer` aligns ticks), so one frame serves all of them.

    Parameters
    ----------
    generation
        Messages per generation; the previous generation is still looked up, then dropped.
    frames
        How many recent frames are kept, keyed by the identity of their messages.
    """

    def __init__(self, generation: int = 50_000, frames: int = 8) -> None:
        self.generation = generation
        self._current: dict[int, tuple[Message, bytes]] = {}
        self._previous: dict[int, tuple[Message, bytes]] = {}
        self.frames = frames
        # the messages are held with the frame so that their ids stay theirs while it is kept
        self._frames: dict[tuple[int, ...], tuple[Sequence[Message], str]] = {}

    def message(self, msg: Message) -> bytes:
        """The JSON of one message, encoded on first use."""
        key = id(msg)
        hit = self._current.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        hit = self._previous.get(key)
        data = hit[1] if hit is not None and hit[0] is msg else encode(msg)
        if len(self._current) >= self.generation:
            self._previous, self._current = self._current, {}
        self._current[key] = (msg, data)
        return data

    def delta(self, messages: Sequence[Message]) -> bytes:
        """The same bytes as ``encode(DeltaMessage(messages=list(messages)))``."""
        return DELTA_HEAD + b",".join([self.message(m) for m in messages]) + DELTA_TAIL

    def delta_text(self, messages: Sequence[Message]) -> str:
        """`delta` as text, built once for every caller passing the same message objects in
        the same order while the frame is among the last ``frames`` ones."""
        key = tuple(map(id, messages))
        hit = self._frames.get(key)
        if hit is not None:
            return hit[1]
        text = self.delta(messages).decode()
        if len(self._frames) >= self.frames:
            del self._frames[next(iter(self._frames))]
        self._frames[key] = (list(messages), text)
        return text
