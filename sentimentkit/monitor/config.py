"""The monitor's YAML configuration as typed, frozen dataclasses, validated by hand (no pydantic: the `stream` extra
does not need it). Unknown keys are errors, and every error names the file, the place (`rules[2] "neg-burst"`), the
field and what was expected:

    monitor.yaml: rules[2] "neg-burst": window.minutes: expected a positive number, got 'ten'
"""

from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLARITIES = ("negative", "neutral", "positive")


class ConfigError(ValueError):
    """The configuration is not valid; the message names the file, rule and field, and what was expected."""


# --- the typed configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisSource:
    url: str
    stream: str
    group: str = "sentimentkit"
    consumer: str = ""  # default: host-pid
    block_ms: int = 1000
    batch_size: int = 64
    claim_idle_ms: int = 30000
    dead_letter: str = ""  # default: "<stream>:dead"
    time_field: str | None = None  # message time from this field (epoch seconds or ISO 8601), else the Redis id


@dataclass(frozen=True)
class FileSource:
    path: str | None  # None: stdin
    follow: bool = False
    batch_size: int = 64
    poll_ms: int = 200
    dead_letter: str = ""  # default: "<path>.dead.jsonl", stdin: "monitor-dead.jsonl"
    time_field: str | None = None  # else arrival time


@dataclass(frozen=True)
class ModelConfig:
    name: str = "sentiment-en"
    aspects: bool = False
    aspect_model: str = "absa-en"
    batch_size: int = 32


@dataclass(frozen=True)
class Condition:
    """Per-message condition; every given part must hold (an empty condition matches every scored message)."""

    polarity: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    confidence_above: float | None = None  # the top class probability
    confidence_below: float | None = None
    score_above: float | None = None  # the document score in [-1, 1]
    score_below: float | None = None
    aspect_term: tuple[str, ...] = ()  # an aspect with one of these terms (case-insensitive) ...
    aspect_polarity: tuple[str, ...] = ()  # ... and one of these polarities
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # kept field == value (or in the list)


@dataclass(frozen=True)
class Rule:
    """One alert rule. kind: "message" (each matching message), "window" (count or share of matching messages per
    group over the last `minutes` or `messages`), "spike" (matching rate in a window against a baseline window)."""

    name: str
    kind: str
    when: Condition = field(default_factory=Condition)
    group_by: tuple[str, ...] = ()  # message fields, or "aspect" (one group per aspect term)
    minutes: float | None = None
    messages: int | None = None
    count_at_least: int | None = None
    share_at_least: float | None = None
    min_count: int = 1
    baseline_minutes: float | None = None
    ratio: float | None = None
    cooldown_minutes: float = 0.0


@dataclass(frozen=True)
class WebhookSink:
    url: str
    timeout_s: float = 5.0
    retries: int = 8
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    give_up_after_s: float = 3600.0
    dead_letter: str = "alerts-dead.jsonl"


@dataclass(frozen=True)
class Sinks:
    webhook: WebhookSink | None = None
    log: bool = False
    store: bool = True


@dataclass(frozen=True)
class Metrics:
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class MonitorConfig:
    path: str
    source: RedisSource | FileSource
    model: ModelConfig
    store_url: str
    product_field: str = "product"
    rules: tuple[Rule, ...] = ()
    sinks: Sinks = field(default_factory=Sinks)
    metrics: Metrics | None = None
    max_text_chars: int = 20000

    @property
    def source_name(self) -> str:
        """The store's `source` of the documents: "monitor:<stream>", "monitor:<file>" or "monitor:stdin"."""
        if isinstance(self.source, RedisSource):
            return f"monitor:{self.source.stream}"
        return f"monitor:{self.source.path}" if self.source.path else "monitor:stdin"

    @property
    def scope(self) -> str:
        """Whose rule state this is: the stream and consumer group (shared by the group's consumers), or the file."""
        if isinstance(self.source, RedisSource):
            return f"redis:{self.source.stream}/{self.source.group}"
        return f"file:{Path(self.source.path).resolve()}" if self.source.path else "stdin"


# --- validation ------------------------------------------------------------------------------------------------


class _Section:
    """A mapping being read: `take` pops a field and checks it; `done` fails on the keys nobody took. `head` names
    the rule (`rules[2] "neg-burst"`), `dotted` the section inside it (`window`), so an error reads
    `FILE: rules[2] "neg-burst": window.minutes: ...`."""

    allowed: tuple[str, ...] = ()

    def __init__(self, head: str, value: Any, path: str, dotted: str = "") -> None:
        self.file, self.head, self.dotted = path, head, dotted
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.fail("", f"expected a mapping, got {_show(value)}")
        self.data = dict(value)

    def fail(self, name: str, message: str) -> None:
        field_path = ".".join(p for p in (self.dotted, name) if p)
        place = ": ".join(p for p in (self.head, field_path) if p)
        raise ConfigError(f"{self.file}: {place}: {message}" if place else f"{self.file}: {message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def take(self, name: str, kind: str, default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                self.fail(name, f"required; expected {_EXPECTED[kind]}")
            return default
        value = self.data.pop(name)
        return _check(value, kind, lambda msg: self.fail(name, msg))

    def sub(self, name: str) -> _Section:
        dotted = ".".join(p for p in (self.dotted, name) if p)
        return _Section(self.head, self.data.pop(name, None), self.file, dotted)

    def done(self) -> None:
        if self.data:
            unknown = sorted(map(str, self.data))
            allowed = f" (allowed here: {', '.join(self.allowed)})" if self.allowed else ""
            self.fail(unknown[0], f"unknown key{allowed}")


_EXPECTED = {
    "str": "a non-empty string",
    "bool": "true or false",
    "posint": "a positive integer",
    "nonnegint": "a non-negative integer",
    "posnum": "a positive number",
    "nonnegnum": "a non-negative number",
    "prob": "a number between 0 and 1",
    "score": "a number between -1 and 1",
    "strs": "a string or a list of strings",
    "port": "a port number (0-65535; 0 picks a free one)",
}


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _check(value: Any, kind: str, fail: Any) -> Any:
    def bad() -> None:
        fail(f"expected {_EXPECTED[kind]}, got {_show(value)}")

    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            bad()
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            bad()
        return value
    if kind in ("posint", "nonnegint", "port"):
        if not isinstance(value, int) or isinstance(value, bool):
            bad()
        if (kind == "posint" and value < 1) or (kind == "nonnegint" and value < 0):
            bad()
        if kind == "port" and not 0 <= value <= 65535:
            bad()
        return value
    if kind in ("posnum", "nonnegnum", "prob", "score"):
        if not number:
            bad()
        low, high = {"posnum": (0, math.inf), "nonnegnum": (0, math.inf), "prob": (0, 1), "score": (-1, 1)}[kind]
        if value < low or value > high or (kind == "posnum" and value == 0):
            bad()
        return float(value)
    if kind == "strs":
        items = [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value
        if not isinstance(items, list) or not items or not all(isinstance(x, str | int | float) for x in items):
            bad()
        return tuple(str(x) for x in items)
    raise AssertionError(kind)


def _allowed(section: _Section, *names: str) -> _Section:
    """Declare a section's keys; a key outside them fails now, before any missing one is reported."""
    section.allowed = names
    unknown = sorted(str(k) for k in section.data if k not in names)
    if unknown:
        section.fail(unknown[0], f"unknown key (allowed here: {', '.join(names)})")
    return section


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a monitor YAML file (ConfigError names the file, rule and field of any problem)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it: {err}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_config(raw, str(path))


def parse_config(raw: Any, path: str = "<config>") -> MonitorConfig:
    """A MonitorConfig from parsed YAML (a dict); `path` names the file in errors."""
    top = _allowed(_Section("", raw, path), "source", "model", "store", "rules", "sinks", "metrics", "max_text_chars")
    if not top.has("source"):
        top.fail("source", "required; expected one of redis, jsonl, stdin")
    source = _source(top.sub("source"))
    model = _model(top.sub("model"))
    store = _allowed(top.sub("store"), "url", "product_field")
    store_url = store.take("url", "str", "sqlite:///sentimentkit.db")
    product_field = store.take("product_field", "str", "product")
    store.done()
    rules_raw = top.data.pop("rules", None) or []
    if not isinstance(rules_raw, list):
        top.fail("rules", f"expected a list of rules, got {_show(rules_raw)}")
    rules = tuple(_rule(i, r, path) for i, r in enumerate(rules_raw))
    names = [r.name for r in rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            top.fail(f'rules[{i}] "{name}": name', "another rule has this name; rule names must be unique")
    sinks = _sinks(top.sub("sinks"))
    metrics = None
    if top.has("metrics"):
        m = _allowed(top.sub("metrics"), "port", "host")
        metrics = Metrics(port=m.take("port", "port"), host=m.take("host", "str", "127.0.0.1"))
        m.done()
    max_chars = top.take("max_text_chars", "posint", 20000)
    top.done()
    return MonitorConfig(path, source, model, store_url, product_field, rules, sinks, metrics, max_chars)


def _source(section: _Section) -> RedisSource | FileSource:
    kinds = [k for k in ("redis", "jsonl", "stdin") if section.has(k)]
    if len(kinds) != 1:
        unknown = sorted(set(map(str, section.data)) - {"redis", "jsonl", "stdin"})
        got = f"unknown key {unknown[0]!r}" if unknown else (", ".join(kinds) if kinds else "nothing")
        section.fail("", f"expected exactly one of redis, jsonl, stdin; got {got}")
    kind = kinds[0]
    if kind == "redis":
        s = _allowed(section.sub("redis"), *REDIS_KEYS)
        stream = s.take("stream", "str")
        out: RedisSource | FileSource = RedisSource(
            url=s.take("url", "str"),
            stream=stream,
            group=s.take("group", "str", "sentimentkit"),
            consumer=s.take("consumer", "str", f"{socket.gethostname()}-{os.getpid()}"),
            block_ms=s.take("block_ms", "posint", 1000),
            batch_size=s.take("batch_size", "posint", 64),
            claim_idle_ms=s.take("claim_idle_ms", "posint", 30000),
            dead_letter=s.take("dead_letter", "str", f"{stream}:dead"),
            time_field=s.take("time_field", "str", None),
        )
    elif kind == "jsonl":
        s = _allowed(section.sub("jsonl"), "path", "follow", "batch_size", "poll_ms", "dead_letter", "time_field")
        file = s.take("path", "str")
        out = FileSource(
            path=file,
            follow=s.take("follow", "bool", False),
            batch_size=s.take("batch_size", "posint", 64),
            poll_ms=s.take("poll_ms", "posint", 200),
            dead_letter=s.take("dead_letter", "str", f"{file}.dead.jsonl"),
            time_field=s.take("time_field", "str", None),
        )
    else:
        s = _allowed(section.sub("stdin"), "batch_size", "dead_letter", "time_field")
        out = FileSource(
            path=None,
            batch_size=s.take("batch_size", "posint", 64),
            dead_letter=s.take("dead_letter", "str", "monitor-dead.jsonl"),
            time_field=s.take("time_field", "str", None),
        )
    s.done()
    section.done()
    return out


def _model(s: _Section) -> ModelConfig:
    _allowed(s, "name", "aspects", "aspect_model", "batch_size")
    out = ModelConfig(
        name=s.take("name", "str", "sentiment-en"),
        aspects=s.take("aspects", "bool", False),
        aspect_model=s.take("aspect_model", "str", "absa-en"),
        batch_size=s.take("batch_size", "posint", 32),
    )
    s.done()
    return out


REDIS_KEYS = (
    "url", "stream", "group", "consumer", "block_ms", "batch_size", "claim_idle_ms", "dead_letter", "time_field",
)  # fmt: skip
RULE_KEYS = (
    "name", "when", "group_by", "window", "count_at_least", "share_at_least", "min_count", "spike", "cooldown_minutes",
)  # fmt: skip
WHEN_KEYS = (
    "polarity", "label", "confidence_above", "confidence_below", "score_above", "score_below", "aspect", "fields",
)  # fmt: skip


def _rule(index: int, raw: Any, path: str) -> Rule:
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f'rules[{index}] "{name}"' if isinstance(name, str) and name.strip() else f"rules[{index}]"
    s = _allowed(_Section(where, raw, path), *RULE_KEYS)
    name = s.take("name", "str")
    when = _condition(_allowed(s.sub("when"), *WHEN_KEYS))
    group_by = s.take("group_by", "strs", ())
    minutes = messages = baseline = ratio = None
    kind = "message"
    if s.has("window") and s.has("spike"):
        s.fail("spike", "a rule has a window or a spike, not both")
    if s.has("window"):
        kind = "window"
        w = _allowed(s.sub("window"), "minutes", "messages")
        if w.has("minutes") == w.has("messages"):
            w.fail("", "expected exactly one of minutes (a time window) or messages (the last N messages)")
        minutes = w.take("minutes", "posnum", None)
        messages = w.take("messages", "posint", None)
        w.done()
    elif s.has("spike"):
        kind = "spike"
        p = _allowed(s.sub("spike"), "minutes", "baseline_minutes", "ratio")
        minutes = p.take("minutes", "posnum")
        baseline = p.take("baseline_minutes", "posnum")
        ratio = p.take("ratio", "posnum")
        p.done()
    count = s.take("count_at_least", "posint", None)
    share = s.take("share_at_least", "prob", None)
    if kind == "window" and (count is None) == (share is None):
        s.fail("window", "a window rule needs exactly one of count_at_least or share_at_least")
    if kind != "window" and (count is not None or share is not None):
        s.fail("count_at_least" if count is not None else "share_at_least", "only a rule with a window takes this")
    min_count = s.take("min_count", "posint", 1)
    cooldown = s.take("cooldown_minutes", "nonnegnum", 0.0)
    s.done()
    return Rule(name, kind, when, group_by, minutes, messages, count, share, min_count, baseline, ratio, cooldown)


def _condition(s: _Section) -> Condition:
    polarity = s.take("polarity", "strs", ())
    for p in polarity:
        if p not in POLARITIES:
            s.fail("polarity", f"expected one of {', '.join(POLARITIES)}, got {p!r}")
    aspect_term: tuple[str, ...] = ()
    aspect_polarity: tuple[str, ...] = ()
    if s.has("aspect"):
        a = _allowed(s.sub("aspect"), "term", "polarity")
        aspect_term = tuple(t.lower() for t in a.take("term", "strs", ()))
        aspect_polarity = a.take("polarity", "strs", ())
        for p in aspect_polarity:
            if p not in POLARITIES:
                a.fail("polarity", f"expected one of {', '.join(POLARITIES)}, got {p!r}")
        if not aspect_term and not aspect_polarity:
            a.fail("", "expected term and/or polarity")
        a.done()
    fields: list[tuple[str, tuple[str, ...]]] = []
    if s.has("fields"):
        f = s.sub("fields")
        for key in list(f.data):
            fields.append((str(key), f.take(key, "strs")))
    out = Condition(
        polarity=polarity,
        label=s.take("label", "strs", ()),
        confidence_above=s.take("confidence_above", "prob", None),
        confidence_below=s.take("confidence_below", "prob", None),
        score_above=s.take("score_above", "score", None),
        score_below=s.take("score_below", "score", None),
        aspect_term=aspect_term,
        aspect_polarity=aspect_polarity,
        fields=tuple(fields),
    )
    s.done()
    return out


def _sinks(s: _Section) -> Sinks:
    _allowed(s, "webhook", "log", "store")
    webhook = None
    if s.has("webhook"):
        w = _allowed(
            s.sub("webhook"),
            "url",
            "timeout_s",
            "retries",
            "backoff_s",
            "max_backoff_s",
            "give_up_after_s",
            "dead_letter",
        )
        url = w.take("url", "str")
        if not url.startswith(("http://", "https://")):
            w.fail("url", f"expected an http:// or https:// URL, got {url!r}")
        webhook = WebhookSink(
            url=url,
            timeout_s=w.take("timeout_s", "posnum", 5.0),
            retries=w.take("retries", "nonnegint", 8),
            backoff_s=w.take("backoff_s", "posnum", 0.5),
            max_backoff_s=w.take("max_backoff_s", "posnum", 30.0),
            give_up_after_s=w.take("give_up_after_s", "posnum", 3600.0),
            dead_letter=w.take("dead_letter", "str", "alerts-dead.jsonl"),
        )
        w.done()
    out = Sinks(webhook=webhook, log=s.take("log", "bool", False), store=s.take("store", "bool", True))
    s.done()
    return out
