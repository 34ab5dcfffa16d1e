"""Where messages come from: a Redis stream read through a consumer group, a JSON Lines file (optionally followed as
it grows), or stdin. Every source yields `Message`s in batches; a message that cannot be used carries `error` (the
reason) and its original payload, for the dead-letter stream or file.

A Redis entry is either flat fields (`id`, `text`, `product`, ...) or one field `data` (or `json`) holding a JSON
object. Its id is the payload's `id`, else the Redis message id; its time the `time_field` (epoch seconds or ISO
8601) when configured, else the Redis id's milliseconds. A file line is a JSON object; its id is `id`, else
"<file name>:<byte offset>".
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from .config import FileSource, RedisSource

log = logging.getLogger(__name__)
T = TypeVar("T")
PAYLOAD_FIELDS = ("data", "json")  # a Redis entry with just one of these carries the message as JSON


@dataclass(frozen=True)
class Message:
    """One message: `ref` is the source's handle (Redis id, end byte offset, line number), `error` why it is
    malformed (then `raw` is what arrived, as text)."""

    ref: str
    id: str
    text: str
    time: float
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    raw: str = ""


def parse_object(
    obj: Any, ref: str, fallback_id: str, fallback_time: float, max_chars: int, time_field: str | None, raw: str
) -> Message:
    """A Message from a decoded JSON object or Redis fields (a malformed one carries `error`)."""

    def bad(reason: str) -> Message:
        return Message(ref, fallback_id, "", fallback_time, error=reason, raw=raw)

    if not isinstance(obj, dict):
        return bad(f"expected a JSON object, got {type(obj).__name__}")
    fields = dict(obj)
    text = fields.pop("text", None)
    ident = fields.pop("id", None)
    if text is None:
        return bad("no text field")
    if not isinstance(text, str):
        return bad(f"text is a {type(text).__name__}, not a string")
    if not text.strip():
        return bad("blank text")
    if len(text) > max_chars:
        return bad(f"text of {len(text)} characters is over max_text_chars ({max_chars})")
    if ident is not None and (not isinstance(ident, str | int) or isinstance(ident, bool) or not str(ident).strip()):
        return bad(f"id must be a non-empty string or integer, got {ident!r}")
    when = fallback_time
    if time_field is not None and fields.get(time_field) is not None:
        parsed = parse_time(fields[time_field])
        if parsed is None:
            return bad(f"{time_field} {fields[time_field]!r} is not epoch seconds or an ISO 8601 time")
        when = parsed
    message_id = fallback_id if ident is None else str(ident)
    return Message(ref, message_id, text, when, fields, raw=raw)


def parse_time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def parse_line(raw: bytes, ref: str, fallback_id: str, now: float, max_chars: int, time_field: str | None) -> Message:
    """A Message from one JSON line (bytes)."""
    shown = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    if len(raw) > 4 * max_chars + 65536:
        return Message(ref, fallback_id, "", now, error=f"line of {len(raw)} bytes is too large", raw=shown[:2048])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Message(ref, fallback_id, "", now, error=f"not UTF-8 (byte {err.start})", raw=shown)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return Message(ref, fallback_id, "", now, error=f"bad JSON: {err}", raw=shown)
    return parse_object(obj, ref, fallback_id, now, max_chars, time_field, shown)


# --- Redis Streams -----------------------------------------------------------------------------------------------


class RedisStreamSource:
    """A consumer in a Redis consumer group. `read` returns this consumer's own pending messages first (after a
    start or a reconnect: those it read but never acknowledged), then messages of crashed consumers idle longer
    than `claim_idle_ms` (XAUTOCLAIM), then new ones (XREADGROUP >). Lost connections are retried with backoff
    until `stop` is set; a vanished group is created again."""

    def __init__(self, config: RedisSource, max_chars: int, stop: threading.Event) -> None:
        import redis

        self.config, self.max_chars, self.stop = config, max_chars, stop
        self._redis = redis
        self.client = redis.Redis.from_url(
            config.url, socket_timeout=config.block_ms / 1000 + 10, socket_connect_timeout=5, health_check_interval=10
        )
        self._own_pending = True
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self.reconnects = 0
        self.exhausted = False  # a stream never ends
        self._call(self._ensure_group)

    @property
    def name(self) -> str:
        return self.config.stream

    def _ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except self._redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def _call(self, fn: Callable[[], T]) -> T:
        """`fn()`, retried with exponential backoff (0.1 s to 5 s) while Redis is unreachable or loading."""
        delay = 0.1
        errors = (self._redis.ConnectionError, self._redis.TimeoutError, self._redis.BusyLoadingError)
        while True:
            try:
                return fn()
            except errors as err:
                if self.stop.is_set():
                    raise
                log.warning("redis %s: %s; retrying in %.1f s", self.config.url, err, delay)
            except self._redis.ResponseError as err:
                if "NOGROUP" not in str(err):
                    raise
                log.warning("redis: the consumer group %s is gone; creating it again", self.config.group)
            self.stop.wait(delay)
            delay = min(delay * 2, 5.0)
            self.reconnects += 1
            self._own_pending = True  # what we read before the failure is pending under our name
            try:
                self._ensure_group()
            except (*errors, self._redis.ResponseError):
                pass

    def read(self, count: int) -> list[Message]:
        return self._call(lambda: self._read(count))

    def _read(self, count: int) -> list[Message]:
        c = self.config
        if self._own_pending:
            entries = self._entries(self.client.xreadgroup(c.group, c.consumer, {c.stream: "0"}, count=count))
            if entries:
                return self._messages(entries)
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            cursor, entries, *_ = self.client.xautoclaim(
                c.stream, c.group, c.consumer, min_idle_time=c.claim_idle_ms, start_id=self._claim_cursor, count=count
            )
            self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            if self._claim_cursor == "0-0":  # a full pass over the pending list: look again a while later
                self._next_claim = time.monotonic() + c.claim_idle_ms / 2000
            entries = [e for e in entries if e is not None]
            if entries:
                return self._messages(entries)
        response = self.client.xreadgroup(c.group, c.consumer, {c.stream: ">"}, count=count, block=c.block_ms)
        return self._messages(self._entries(response))

    @staticmethod
    def _entries(response: Any) -> list[Any]:
        if not response:
            return []
        return list(response[0][1])

    def _messages(self, entries: list[Any]) -> list[Message]:
        out = []
        for ref_raw, fields in entries:
            ref = ref_raw.decode() if isinstance(ref_raw, bytes) else str(ref_raw)
            if fields is None:  # deleted from the stream while pending: nothing to score, just acknowledge
                out.append(Message(ref, ref, "", 0.0, error="the entry was deleted from the stream"))
                continue
            out.append(self._parse(ref, fields))
        return out

    def _parse(self, ref: str, fields: dict[bytes, bytes]) -> Message:
        when = int(ref.split("-")[0]) / 1000
        size = sum(len(k) + len(v) for k, v in fields.items())
        shown = json.dumps(
            {k.decode("utf-8", "backslashreplace"): v.decode("utf-8", "backslashreplace") for k, v in fields.items()},
            ensure_ascii=False,
        )
        if size > 4 * self.max_chars + 65536:
            return Message(ref, ref, "", when, error=f"payload of {size} bytes is too large", raw=shown[:2048])
        try:
            decoded = {k.decode("utf-8"): v.decode("utf-8") for k, v in fields.items()}
        except UnicodeDecodeError as err:
            return Message(ref, ref, "", when, error=f"not UTF-8 (byte {err.start})", raw=shown)
        if len(decoded) == 1 and next(iter(decoded)) in PAYLOAD_FIELDS:
            try:
                obj = json.loads(next(iter(decoded.values())))
            except json.JSONDecodeError as err:
                return Message(ref, ref, "", when, error=f"bad JSON: {err}", raw=shown)
        else:
            obj = decoded
        return parse_object(obj, ref, ref, when, self.max_chars, self.config.time_field, shown)

    def ack(self, messages: list[Message]) -> None:
        if messages:
            refs = [m.ref for m in messages]
            self._call(lambda: self.client.xack(self.config.stream, self.config.group, *refs))

    def dead_letter(self, messages: list[Message]) -> None:
        """Each malformed message to the dead-letter stream, with its reason and original payload."""
        if not messages:
            return

        def send() -> None:
            pipe = self.client.pipeline(transaction=False)
            for m in messages:
                entry = {"reason": m.error or "", "id": m.id, "source_id": m.ref, "stream": self.config.stream}
                pipe.xadd(self.config.dead_letter, entry | {"payload": m.raw})
            pipe.execute()

        self._call(send)

    def lag(self) -> tuple[int | None, int | None]:
        """(lag, pending) of the consumer group (XINFO GROUPS), or (None, None) when Redis does not say."""
        try:
            for group in self.client.xinfo_groups(self.config.stream):
                name = group.get("name")
                name = name.decode() if isinstance(name, bytes) else name
                if name == self.config.group:
                    lag = group.get("lag")
                    return (int(lag) if lag is not None else None), int(group.get("pending", 0))
        except (self._redis.RedisError, OSError):
            pass
        return None, None

    def checkpoint(self, messages: list[Message]) -> dict[str, Any] | None:
        return None  # acknowledged after the commit instead

    def close(self) -> None:
        self.client.close()


# --- files and stdin -------------------------------------------------------------------------------------------


class JsonlSource:
    """A JSON Lines file read from a byte offset (restored from the store: the runner commits each batch's end
    offset with its results). With `follow`, the file is watched as it grows and a partial last line waits for its
    newline; without, the source is exhausted at the end of the file."""

    def __init__(self, config: FileSource, max_chars: int, stop: threading.Event, offset: int = 0) -> None:
        self.config, self.max_chars, self.stop = config, max_chars, stop
        self.path = Path(config.path or "")
        self.offset = offset
        self.exhausted = False

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self, count: int) -> list[Message]:
        out: list[Message] = []
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                while len(out) < count:
                    start = handle.tell()
                    raw = handle.readline()
                    if not raw:
                        break
                    if not raw.endswith(b"\n") and self.config.follow:
                        break  # a line still being written
                    self.offset = handle.tell()
                    if not raw.strip():
                        continue
                    ident = f"{self.path.name}:{start}"
                    out.append(
                        parse_line(raw, str(self.offset), ident, time.time(), self.max_chars, self.config.time_field)
                    )
        if not out:
            if self.config.follow:
                self.stop.wait(self.config.poll_ms / 1000)
            else:
                self.exhausted = True
        return out

    def checkpoint(self, messages: list[Message]) -> dict[str, Any] | None:
        return {"offset": self.offset}

    def ack(self, messages: list[Message]) -> None:
        pass  # the offset was committed with the batch

    def dead_letter(self, messages: list[Message]) -> None:
        write_dead_letters(self.config.dead_letter, messages, self.name)

    def lag(self) -> tuple[int | None, int | None]:
        try:
            return max(0, self.path.stat().st_size - self.offset), None
        except OSError:
            return None, None

    def close(self) -> None:
        pass


class StdinSource:
    """Lines of JSON from stdin (or any binary stream), read by a thread; exhausted at end of input."""

    def __init__(self, config: FileSource, max_chars: int, stop: threading.Event, stream: BinaryIO | None = None):
        import sys

        self.config, self.max_chars, self.stop = config, max_chars, stop
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.lines: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=10000)
        self.exhausted = False
        self._eof = False
        threading.Thread(target=self._pump, name="monitor-stdin", daemon=True).start()

    @property
    def name(self) -> str:
        return "stdin"

    def _pump(self) -> None:
        for lineno, raw in enumerate(self.stream, 1):
            self.lines.put((lineno, raw))
        self.lines.put(None)

    def read(self, count: int) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + 0.2
        while len(out) < count and not self._eof:
            try:
                item = self.lines.get(timeout=max(0.0, deadline - time.monotonic()) if out else 0.5)
            except queue.Empty:
                break
            if item is None:
                self._eof = True
                break
            lineno, raw = item
            if raw.strip():
                ident = f"stdin:{lineno}"
                out.append(parse_line(raw, str(lineno), ident, time.time(), self.max_chars, self.config.time_field))
        if not out and self._eof:
            self.exhausted = True
        return out

    def checkpoint(self, messages: list[Message]) -> dict[str, Any] | None:
        return None

    def ack(self, messages: list[Message]) -> None:
        pass

    def dead_letter(self, messages: list[Message]) -> None:
        write_dead_letters(self.config.dead_letter, messages, self.name)

    def lag(self) -> tuple[int | None, int | None]:
        return self.lines.qsize(), None

    def close(self) -> None:
        pass


def write_dead_letters(path: str, messages: list[Message], source: str) -> None:
    """Append each malformed message to a JSON Lines dead-letter file, with its reason and original payload."""
    if not messages:
        return
    handle: IO[str]
    with open(path, "a", encoding="utf-8") as handle:
        for m in messages:
            row = {"reason": m.error, "id": m.id, "source": source, "ref": m.ref, "payload": m.raw}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
