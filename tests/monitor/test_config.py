"""Config validation: unknown keys and wrong values fail with the file, the rule and the field named."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.monitor.config import ConfigError, FileSource, RedisSource, load_config, parse_config

BASE = {
    "source": {"redis": {"url": "redis://127.0.0.1:6379/0", "stream": "reviews"}},
    "model": {"name": "sentiment-en", "aspects": True},
    "store": {"url": "sqlite:///m.db"},
    "rules": [
        {"name": "confident-negative", "when": {"polarity": "negative", "confidence_above": 0.9}},
        {
            "name": "neg-share",
            "when": {"polarity": "negative"},
            "group_by": ["product"],
            "window": {"minutes": 10},
            "share_at_least": 0.5,
            "min_count": 20,
            "cooldown_minutes": 30,
        },
        {
            "name": "neg-burst",
            "when": {"polarity": "negative", "aspect": {"term": "battery"}},
            "group_by": ["product", "aspect"],
            "spike": {"minutes": 5, "baseline_minutes": 60, "ratio": 3},
            "min_count": 5,
        },
    ],
    "sinks": {"webhook": {"url": "http://127.0.0.1:9/hook"}, "log": True},
    "metrics": {"port": 9108},
}


def with_change(path: str, value, delete: bool = False) -> dict:
    """BASE with one dotted path set (list indices as numbers) or deleted."""
    config = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config


def test_a_full_config_parses():
    config = parse_config(BASE, "m.yaml")
    assert isinstance(config.source, RedisSource)
    assert config.source.dead_letter == "reviews:dead" and config.source.claim_idle_ms == 30000
    assert [r.kind for r in config.rules] == ["message", "window", "spike"]
    assert config.rules[1].share_at_least == 0.5 and config.rules[1].minutes == 10
    assert config.rules[2].when.aspect_term == ("battery",)
    assert config.sinks.webhook.url.endswith("/hook") and config.sinks.log and config.sinks.store
    assert config.metrics.host == "127.0.0.1"
    assert config.source_name == "monitor:reviews" and config.scope == "redis:reviews/sentimentkit"


CASES = [
    (
        with_change("rules.2.spike.minutes", "ten"),
        'rules[2] "neg-burst": spike.minutes: expected a positive number, got "ten"',
    ),
    (
        with_change("rules.1.window", {"minutes": -1}),
        'rules[1] "neg-share": window.minutes: expected a positive number, got -1',
    ),
    (with_change("rules.1.windw", {"minutes": 1}), 'rules[1] "neg-share": windw: unknown key'),
    (with_change("rules.0.when.polarty", "negative"), 'rules[0] "confident-negative": when.polarty: unknown key'),
    (
        with_change("rules.0.when.polarity", "bad"),
        "when.polarity: expected one of negative, neutral, positive, got 'bad'",
    ),
    (
        with_change("rules.0.when.confidence_above", 1.5),
        "when.confidence_above: expected a number between 0 and 1, got 1.5",
    ),
    (with_change("rules.0.name", None, delete=True), "rules[0]: name: required; expected a non-empty string"),
    (
        with_change("rules.1.name", "confident-negative"),
        'rules[1] "confident-negative": name: another rule has this name',
    ),
    (
        with_change("rules.1.share_at_least", None, delete=True),
        "a window rule needs exactly one of count_at_least or share_at_least",
    ),
    (
        with_change("rules.0.count_at_least", 3),
        'rules[0] "confident-negative": count_at_least: only a rule with a window',
    ),
    (with_change("rules.1.window", {"minutes": 5, "messages": 10}), "window: expected exactly one of minutes"),
    (with_change("rules.1.window", {"messages": 2.5}), "window.messages: expected a positive integer, got 2.5"),
    (with_change("rules.1.min_count", 0), "min_count: expected a positive integer, got 0"),
    (with_change("rules.1.cooldown_minutes", "soon"), 'cooldown_minutes: expected a non-negative number, got "soon"'),
    (
        with_change("rules.1.spike", {"minutes": 1, "baseline_minutes": 5, "ratio": 2}),
        "spike: a rule has a window or a spike, not both",
    ),
    (with_change("rules.2.spike.ratio", None, delete=True), "spike.ratio: required; expected a positive number"),
    (with_change("rules.2.when.aspect", {"polarity": "awful"}), "when.aspect.polarity: expected one of"),
    (with_change("rules.2.when.aspect", {}), "when.aspect: expected term and/or polarity"),
    (
        with_change("rules.0.when", "negative"),
        'rules[0] "confident-negative": when: expected a mapping, got "negative"',
    ),
    (with_change("rules.1", "oops"), 'rules[1]: expected a mapping, got "oops"'),
    (with_change("rules", {"name": "x"}), "rules: expected a list of rules, got a mapping"),
    (with_change("source.redis.strem", "x"), "source.redis.strem: unknown key (allowed here: url, stream"),
    (
        with_change("source.redis.stream", None, delete=True),
        "source.redis.stream: required; expected a non-empty string",
    ),
    (with_change("source.redis.block_ms", 0), "source.redis.block_ms: expected a positive integer, got 0"),
    (
        with_change("source.redis.claim_idle_ms", "30s"),
        'source.redis.claim_idle_ms: expected a positive integer, got "30s"',
    ),
    (
        with_change("source.jsonl", {"path": "a.jsonl"}),
        "source: expected exactly one of redis, jsonl, stdin; got redis, jsonl",
    ),
    (with_change("source", {}), "source: expected exactly one of redis, jsonl, stdin; got nothing"),
    (with_change("source", None, delete=True), "source: required"),
    (with_change("model.aspects", "yes"), 'model.aspects: expected true or false, got "yes"'),
    (with_change("model.nme", "x"), "model.nme: unknown key"),
    (with_change("store.uri", "x"), "store.uri: unknown key (allowed here: url, product_field)"),
    (with_change("sinks.webhook.url", "ftp://x"), "sinks.webhook.url: expected an http:// or https:// URL, got"),
    (with_change("sinks.webhook.retries", -1), "sinks.webhook.retries: expected a non-negative integer, got -1"),
    (with_change("sinks.slack", {}), "sinks.slack: unknown key (allowed here: webhook, log, store)"),
    (
        with_change("metrics.port", 70000),
        "metrics.port: expected a port number (0-65535; 0 picks a free one), got 70000",
    ),
    (with_change("max_text_chars", 0), "max_text_chars: expected a positive integer, got 0"),
    (with_change("rulez", []), "rulez: unknown key"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[c[1][:50] for c in CASES])
def test_errors_name_the_file_rule_and_field(raw, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "monitor.yaml")
    assert str(err.value).startswith("monitor.yaml: ")
    assert expected in str(err.value)


def test_a_config_that_is_not_a_mapping():
    with pytest.raises(ConfigError, match=r"m.yaml: expected a mapping, got a list"):
        parse_config([1, 2], "m.yaml")


def test_files_and_stdin(tmp_path):
    jsonl = parse_config({"source": {"jsonl": {"path": "in.jsonl", "follow": True}}}, "m.yaml")
    assert isinstance(jsonl.source, FileSource) and jsonl.source.follow
    assert jsonl.source.dead_letter == "in.jsonl.dead.jsonl"
    stdin = parse_config({"source": {"stdin": {}}}, "m.yaml")
    assert stdin.source.path is None and stdin.source_name == "monitor:stdin"
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_cli_check_and_errors_exit_2(tmp_path):
    import yaml

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    result = CliRunner().invoke(app, ["monitor", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output and "neg-share" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_change("rules.2.spike.minutes", "ten")))
    for args in (["monitor", "check", str(bad)], ["monitor", str(bad)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert f'{bad}: rules[2] "neg-burst": spike.minutes: expected a positive number, got "ten"' in result.output
    assert CliRunner().invoke(app, ["monitor", "check"]).exit_code == 2
