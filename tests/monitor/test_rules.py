"""Rule semantics: per-message conditions, windows by time and by count, minimum counts, spikes against a baseline,
cooldown, one alert per incident, resolution, and state that round-trips through JSON."""

from __future__ import annotations

import json

from sentimentkit.monitor.config import parse_config
from sentimentkit.monitor.rules import Event, RuleState, matches
from sentimentkit.types import AspectPrediction, Prediction

NEG = {"negative": 0.95, "neutral": 0.03, "positive": 0.02}
POS = {"negative": 0.02, "neutral": 0.03, "positive": 0.95}


def rule(**spec):
    raw = {"source": {"stdin": {}}, "rules": [{"name": "r", **spec}]}
    return parse_config(raw, "t.yaml").rules[0]


def event(i, t, polarity="negative", product="P1", aspects=(), probs=None, **fields):
    probs = probs or (NEG if polarity == "negative" else POS)
    p = Prediction(f"text {i}", polarity, polarity, 0.0, probs, tuple(aspects), id=f"m{i}")
    return Event(f"m{i}", float(t), p, {"product": product, **fields})


def feed(state, events):
    return [(a.kind, a.group_key) for a in state.feed(events)]


def test_message_conditions():
    assert matches(rule(when={"polarity": "negative", "confidence_above": 0.9}).when, event(1, 0))
    assert not matches(rule(when={"confidence_above": 0.96}).when, event(1, 0))
    assert not matches(rule(when={"polarity": ["positive", "neutral"]}).when, event(1, 0))
    assert matches(rule(when={"label": "negative", "fields": {"product": ["P1", "P2"]}}).when, event(1, 0))
    assert not matches(rule(when={"fields": {"channel": "email"}}).when, event(1, 0))
    screen = AspectPrediction("Screen", 0, 6, "negative", 0.9, NEG)
    cond = rule(when={"aspect": {"term": "screen", "polarity": "negative"}}).when
    assert matches(cond, event(1, 0, aspects=[screen]))
    assert not matches(cond, event(1, 0))
    failed = Event("x", 0.0, Prediction("", error="blank"), {})
    assert not matches(rule().when, failed)


def test_message_rule_alerts_each_match_with_cooldown_per_group():
    state = RuleState(rule(when={"polarity": "negative"}, group_by=["product"], cooldown_minutes=1))
    out = state.feed([event(1, 0), event(2, 10, "positive"), event(3, 20), event(4, 30, product="P2"), event(5, 61)])
    assert [(a.kind, a.group_key, a.payload["message_id"]) for a in out] == [
        ("raised", "product=P1", "m1"),
        ("raised", "product=P2", "m4"),
        ("raised", "product=P1", "m5"),
    ]
    assert len({a.key for a in out}) == 3


def test_count_window_by_time_raises_once_and_resolves():
    state = RuleState(
        rule(when={"polarity": "negative"}, window={"minutes": 1}, count_at_least=3, group_by=["product"])
    )
    assert feed(state, [event(1, 0), event(2, 10)]) == []
    assert feed(state, [event(3, 20)]) == [("raised", "product=P1")]
    assert feed(state, [event(4, 30), event(5, 40)]) == []  # still the same incident: no second alert
    # the first three fall out of the window as time moves on (by later messages of any group)
    assert feed(state, [event(6, 75, "positive", product="P2")]) == []
    assert feed(state, [event(7, 95, "positive", product="P2")]) == [("resolved", "product=P1")]


def test_count_window_over_the_last_n_messages_with_min_count():
    state = RuleState(rule(when={"polarity": "negative"}, window={"messages": 4}, share_at_least=0.5, min_count=4))
    assert feed(state, [event(1, 0), event(2, 0), event(3, 0, "positive")]) == []  # 2/3 but fewer than 4 messages
    assert feed(state, [event(4, 0, "positive")]) == [("raised", "*")]  # 2/4 = 0.5
    assert feed(state, [event(5, 0, "positive")]) == [("resolved", "*")]  # last 4: 1 negative


def test_min_count_holds_back_a_share_on_few_messages():
    state = RuleState(rule(when={"polarity": "negative"}, window={"minutes": 10}, share_at_least=0.8, min_count=5))
    assert feed(state, [event(i, i) for i in range(4)]) == []  # 100 % negative, but only 4 messages
    assert feed(state, [event(4, 4)]) == [("raised", "*")]


def test_spike_against_the_baseline():
    spec = {
        "when": {"polarity": "negative"},
        "spike": {"minutes": 1, "baseline_minutes": 10, "ratio": 5},
        "min_count": 3,
    }
    state = RuleState(rule(**spec))
    # a steady baseline: one negative a minute for 10 minutes (rate 1/min)
    assert feed(state, [event(i, i * 60) for i in range(10)]) == []
    # 4 within the next minute: rate 4/min < 5 x baseline
    assert feed(state, [event(100 + i, 600 + i) for i in range(4)]) == []
    # 6 within it: 6/min >= 5 x 1/min
    assert feed(state, [event(200 + i, 610 + i) for i in range(2)]) == [("raised", "*")]
    # quiet for two minutes: the spike is over
    assert feed(state, [event(300, 800, "positive")]) == [("resolved", "*")]


def test_cooldown_keeps_a_flapping_group_from_raising_again():
    spec = {"when": {"polarity": "negative"}, "window": {"messages": 2}, "count_at_least": 2, "cooldown_minutes": 5}
    state = RuleState(rule(**spec))
    assert feed(state, [event(1, 0), event(2, 1)]) == [("raised", "*")]
    assert feed(state, [event(3, 2, "positive")]) == [("resolved", "*")]
    assert feed(state, [event(4, 3), event(5, 4)]) == []  # holds again within the cooldown: no alert
    assert feed(state, [event(6, 400), event(7, 401)]) == [("raised", "*")]


def test_grouping_by_product_and_aspect():
    battery = AspectPrediction("battery", 0, 7, "negative", 0.9, NEG)
    screen = AspectPrediction("screen", 0, 6, "positive", 0.9, POS)
    spec = {"when": {"aspect": {"polarity": "negative"}}, "group_by": ["product", "aspect"]}
    state = RuleState(rule(**spec, window={"messages": 10}, count_at_least=2))
    out = feed(state, [event(1, 0, aspects=[battery, screen]), event(2, 1, aspects=[battery, screen])])
    assert out == [("raised", "product=P1,aspect=battery")]


def test_state_round_trips_through_json_with_the_same_alerts():
    spec = {"when": {"polarity": "negative"}, "window": {"minutes": 2}, "share_at_least": 0.6, "min_count": 3}
    events = [event(i, i * 7, "negative" if (i // 5) % 2 == 0 else "positive") for i in range(60)]
    whole = RuleState(rule(**spec)).feed(events)
    assert whole, "the stream should raise and resolve"
    parts, data = [], None
    for start in range(0, 60, 7):
        state = RuleState(rule(**spec), json.loads(json.dumps(data)) if data else None)
        parts.extend(state.feed(events[start : start + 7]))
        data = state.to_json()
    assert [a.key for a in parts] == [a.key for a in whole]
    assert {a.kind for a in whole} == {"raised", "resolved"}
