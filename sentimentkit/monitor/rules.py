"""Alert rules over scored messages: what matches, and the state of each rule per group key.

Three kinds (see `config.Rule`):
- message: every matching message raises an alert (at most one per group key per cooldown);
- window: the count, or the share, of matching messages among a group's messages in the last N minutes (message
  time) or the last N messages, once the window holds at least `min_count` messages;
- spike: the rate of matching messages in the last `minutes` against the `baseline_minutes` before them (an empty
  baseline counts as one message, so a burst from nothing fires once it reaches `min_count`).

A window or spike rule raises ONE alert when a group's condition starts to hold and one "resolved" alert when it
stops holding (re-checked with every message of the group, and for time windows at every batch's end as time
moves on); `cooldown_minutes` keeps a group from raising again that soon after its last alert. Alerts carry an
idempotency key derived from the rule, the group key and the incident (its number and start time), so replaying
the same messages from the same state raises the same keys. `RuleState` is plain data and round-trips through
JSON: the monitor stores it with each batch.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..types import AspectPrediction, Prediction
from .config import Condition, Rule

MAX_SAMPLES = 5  # ids of the latest matching messages kept for an alert's payload


@dataclass(frozen=True)
class Event:
    """A scored message as rules see it: its id, time (epoch seconds), prediction and kept fields."""

    id: str
    time: float
    prediction: Prediction
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertEvent:
    """A rule's decision: `kind` "raised" or "resolved" for a group key, with a deterministic idempotency key."""

    key: str
    rule: str
    group_key: str
    kind: str
    at: float
    started_at: float
    payload: dict[str, Any]


def confidence(p: Prediction) -> float | None:
    """The top class probability (None when the prediction has no probabilities)."""
    return max(p.probabilities.values()) if p.probabilities else None


def matches(cond: Condition, event: Event, aspect: AspectPrediction | None = None) -> bool:
    """Whether a message meets a condition; with `aspect`, the aspect part is checked against that aspect only."""
    p = event.prediction
    if p.error is not None:
        return False
    if cond.polarity and p.polarity not in cond.polarity:
        return False
    if cond.label and p.label not in cond.label:
        return False
    conf = confidence(p)
    if cond.confidence_above is not None and (conf is None or conf <= cond.confidence_above):
        return False
    if cond.confidence_below is not None and (conf is None or conf >= cond.confidence_below):
        return False
    score = p.score if p.score is not None else p.value
    if cond.score_above is not None and (score is None or score <= cond.score_above):
        return False
    if cond.score_below is not None and (score is None or score >= cond.score_below):
        return False
    for name, allowed in cond.fields:
        value = event.fields.get(name)
        if value is None or str(value) not in allowed:
            return False
    if cond.aspect_term or cond.aspect_polarity:
        candidates = [aspect] if aspect is not None else list(p.aspects)
        return any(_aspect_matches(cond, a) for a in candidates)
    return True


def _aspect_matches(cond: Condition, a: AspectPrediction) -> bool:
    if cond.aspect_term and a.aspect.lower() not in cond.aspect_term:
        return False
    return not (cond.aspect_polarity and a.polarity not in cond.aspect_polarity)


def group_keys(rule: Rule, event: Event) -> list[tuple[str, AspectPrediction | None]]:
    """The group keys a message counts in ("product=P1,aspect=screen"; "*" without group_by), each with the
    aspect it stands for when the rule groups by aspect (a message without aspects is then in no group)."""
    parts = []
    for name in rule.group_by:
        if name != "aspect":
            value = event.fields.get(name)
            parts.append(f"{name}={'' if value is None else value}")
    if "aspect" not in rule.group_by:
        return [(",".join(parts) or "*", None)]
    out: dict[str, AspectPrediction] = {}
    for a in event.prediction.aspects:
        out.setdefault(",".join([*parts, f"aspect={a.aspect.lower()}"]), a)
    return list(out.items())


def incident_key(rule: str, group_key: str, incident: int, started_at: float, kind: str) -> str:
    text = f"{rule}\x1f{group_key}\x1f{incident}\x1f{started_at!r}\x1f{kind}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


@dataclass
class GroupState:
    """One group of one rule: its window (time buckets [second, total, matched] or count flags "0101"), whether it
    is firing, the current incident's number and start, and when it last raised."""

    buckets: list[list[float]] = field(default_factory=list)
    flags: str = ""
    firing: bool = False
    incident: int = 0
    started_at: float | None = None
    last_raised: float | None = None
    samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "flags": self.flags,
            "firing": self.firing,
            "incident": self.incident,
            "started_at": self.started_at,
            "last_raised": self.last_raised,
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupState:
        return cls(**data)


class RuleState:
    """A rule's groups and the latest message time it has seen (its clock)."""

    def __init__(self, rule: Rule, data: dict[str, Any] | None = None) -> None:
        self.rule = rule
        data = data or {}
        self.now: float = float(data.get("now", 0.0))
        self.groups = {k: GroupState.from_json(v) for k, v in (data.get("groups") or {}).items()}

    def to_json(self) -> dict[str, Any]:
        return {"now": self.now, "groups": {k: g.to_json() for k, g in self.groups.items()}}

    def feed(self, events: Iterable[Event]) -> list[AlertEvent]:
        """The alerts that these messages (in order) raise or resolve, then those that the passing of time resolves."""
        out = []
        for event in events:
            self.now = max(self.now, event.time)
            for key, aspect in group_keys(self.rule, event):
                matched = matches(self.rule.when, event, aspect)
                if self.rule.kind == "message" and not matched:
                    continue
                group = self.groups.setdefault(key, GroupState())
                out.extend(self._update(key, group, event, matched))
        out.extend(self.tick())
        return out

    def tick(self) -> list[AlertEvent]:
        """Re-check the firing groups of time windows at the rule's clock; forget groups with nothing left."""
        out = []
        if self.rule.kind in ("window", "spike") and self.rule.minutes is not None and self.rule.messages is None:
            for key, group in list(self.groups.items()):
                self._expire(group)
                if group.firing and not self._holds(group)[0]:
                    out.append(self._resolve(key, group))
        for key, group in list(self.groups.items()):
            cooling = group.last_raised is not None and self.now - group.last_raised < self.rule.cooldown_minutes * 60
            if not group.firing and not cooling and not group.buckets and not group.flags:
                del self.groups[key]
        return out

    # --- one message in one group ------------------------------------------------------------------------------

    def _update(self, key: str, group: GroupState, event: Event, matched: bool) -> list[AlertEvent]:
        rule = self.rule
        if matched:
            group.samples = [*group.samples, event.id][-MAX_SAMPLES:]
        if rule.kind == "message":
            if self._cooling(group):
                return []
            group.incident += 1
            group.last_raised = self.now
            payload = {"message_id": event.id, "text": event.prediction.text[:500], **self._prediction(event)}
            return [self._alert(key, group, "raised", event.id, payload)]
        if rule.messages is not None:
            group.flags = (group.flags + ("1" if matched else "0"))[-rule.messages :]
        else:
            second = float(int(event.time))
            index = bisect.bisect_left([b[0] for b in group.buckets], second)
            if index < len(group.buckets) and group.buckets[index][0] == second:
                group.buckets[index][1] += 1
                group.buckets[index][2] += int(matched)
            else:
                group.buckets.insert(index, [second, 1, int(matched)])
            self._expire(group)
        holds, stats = self._holds(group)
        if holds and not group.firing and not self._cooling(group):
            group.firing, group.incident, group.started_at, group.last_raised = (
                True,
                group.incident + 1,
                self.now,
                self.now,
            )
            return [self._alert(key, group, "raised", repr(self.now), stats | {"trigger_message_id": event.id})]
        if group.firing and not holds:
            return [self._resolve(key, group, stats)]
        return []

    def _cooling(self, group: GroupState) -> bool:
        cooldown = self.rule.cooldown_minutes * 60
        return group.last_raised is not None and cooldown > 0 and self.now - group.last_raised < cooldown

    def _expire(self, group: GroupState) -> None:
        span = (self.rule.minutes or 0) + (self.rule.baseline_minutes or 0)
        horizon = self.now - span * 60
        while group.buckets and group.buckets[0][0] <= horizon - 1:
            group.buckets.pop(0)

    def _holds(self, group: GroupState) -> tuple[bool, dict[str, Any]]:
        """Whether the group's condition holds now, with the numbers it was decided on."""
        rule = self.rule
        if rule.messages is not None:
            total, matched = len(group.flags), group.flags.count("1")
        else:
            start = self.now - (rule.minutes or 0) * 60
            recent = [b for b in group.buckets if b[0] > start - 1]
            total, matched = int(sum(b[1] for b in recent)), int(sum(b[2] for b in recent))
        if rule.kind == "spike":
            window_start = self.now - (rule.minutes or 0) * 60
            base_start = window_start - (rule.baseline_minutes or 0) * 60
            base = int(sum(b[2] for b in group.buckets if base_start - 1 < b[0] <= window_start - 1))
            rate = matched / (rule.minutes or 1)
            base_rate = max(base, 1) / (rule.baseline_minutes or 1)
            ratio = rate / base_rate
            stats = {"count": matched, "baseline_count": base, "ratio": round(ratio, 4)}
            return matched >= rule.min_count and ratio >= (rule.ratio or 0), stats
        stats = {"count": matched, "total": total, "share": round(matched / total, 4) if total else 0.0}
        if total < rule.min_count:
            return False, stats
        if rule.count_at_least is not None:
            return matched >= rule.count_at_least, stats
        return total > 0 and matched / total >= (rule.share_at_least or 0), stats

    # --- alerts -----------------------------------------------------------------------------------------------

    def _resolve(self, key: str, group: GroupState, stats: dict[str, Any] | None = None) -> AlertEvent:
        group.firing = False
        stats = stats if stats is not None else self._holds(group)[1]
        return self._alert(key, group, "resolved", repr(group.started_at), stats)

    def _alert(self, key: str, group: GroupState, kind: str, incident: str, stats: dict[str, Any]) -> AlertEvent:
        rule = self.rule
        started = group.started_at if rule.kind != "message" and group.started_at is not None else self.now
        payload = {
            "rule": rule.name,
            "rule_kind": rule.kind,
            "group_key": key,
            "kind": kind,
            "at": self.now,
            "started_at": started,
            "window": self._describe(),
            "sample_ids": list(group.samples),
            **stats,
        }
        if rule.kind == "message":  # the message is the incident: its id alone identifies the alert
            ident = incident_key(rule.name, key, 0, 0.0, f"message:{incident}")
        else:
            ident = incident_key(rule.name, key, group.incident, started, kind)
        return AlertEvent(ident, rule.name, key, kind, self.now, started, payload)

    def _prediction(self, event: Event) -> dict[str, Any]:
        p = event.prediction
        return {"label": p.label, "polarity": p.polarity, "score": p.score, "confidence": confidence(p)}

    def _describe(self) -> str:
        rule = self.rule
        if rule.kind == "message":
            return "each message"
        if rule.kind == "spike":
            return f"last {rule.minutes:g} min vs the {rule.baseline_minutes:g} min before, ratio >= {rule.ratio:g}"
        return f"last {rule.messages} messages" if rule.messages is not None else f"last {rule.minutes:g} min"


def alert_text(alert: AlertEvent) -> str:
    """A one-line human summary (the Slack message text)."""
    p = alert.payload
    if p.get("rule_kind") == "message":
        what = f"{p.get('polarity')}, confidence {p.get('confidence')}"
        return f"[{alert.rule}] message {p.get('message_id')} ({what}): {p.get('text', '')[:200]}"
    verb = "RESOLVED" if alert.kind == "resolved" else "ALERT"
    numbers = ", ".join(f"{k} {p[k]}" for k in ("count", "total", "share", "baseline_count", "ratio") if k in p)
    return f"{verb} [{alert.rule}] {alert.group_key}: {numbers} ({p.get('window')})"
