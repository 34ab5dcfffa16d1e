"""`ServeSettings`: everything the service is started with (models, batching, limits, keys, CORS, store).

One frozen dataclass, checked when it is made, so a bad limit fails at start-up with the option's name rather
than as an odd error under load. API keys never appear in its repr (nor in logs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

API_KEYS_ENV = "SENTIMENTKIT_API_KEYS"  # comma-separated keys
SETTINGS_ENV = "SENTIMENTKIT_SERVE_SETTINGS"  # JSON settings for `uvicorn --workers N` processes (keys excluded)
POSITIVE = (
    "max_batch",
    "max_queue",
    "max_texts",
    "max_chars",
    "max_body_bytes",
    "retry_after_s",
    "pipeline_batch_size",
)


class SettingsError(ValueError):
    """A setting is out of range or an API-key source is unusable; the message names the setting."""


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs.

    model / aspect_model: shipped names or model folders (aspect_model None: no aspects). batch_window_ms: how long
    the batcher waits for more requests with the same options before it runs a batch; max_batch: texts per
    coalesced batch; max_queue: texts waiting for the model before new requests get 429. max_texts / max_chars /
    max_body_bytes: per-request limits (413). api_keys: accepted keys (empty: open). cors_origins: allowed
    browser origins (empty: CORS off). store_url: also write every scored batch to this SQL store.
    request_timeout_s: longest a request waits for its predictions before 503. retry_after_s: the least
    Retry-After given with 429/503.
    """

    model: str = "sentiment-en"
    aspect_model: str | None = "absa-en"
    batch_window_ms: float = 5.0
    max_batch: int = 64
    max_queue: int = 2048
    max_texts: int = 512
    max_chars: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_keys_file: str | None = None  # where the keys came from, so worker processes read them again
    cors_origins: tuple[str, ...] = ()
    store_url: str | None = None
    request_timeout_s: float = 60.0
    retry_after_s: int = 1
    pipeline_batch_size: int = 32  # texts per forward pass inside one coalesced batch

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if not self.model:
            raise SettingsError("model: give a shipped model name or a model folder")
        for name in POSITIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"{name} = {value!r}: expected a whole number >= 1")
        if not 0 <= self.batch_window_ms <= 1000:
            raise SettingsError(f"batch_window_ms = {self.batch_window_ms!r}: expected 0 to 1000 milliseconds")
        if not self.request_timeout_s > 0:
            raise SettingsError(f"request_timeout_s = {self.request_timeout_s!r}: expected a positive number")
        if self.max_texts > self.max_queue:
            raise SettingsError(
                f"max_texts = {self.max_texts} is larger than max_queue = {self.max_queue}: a full request could "
                "never be queued; raise max_queue or lower max_texts"
            )
        for key in self.api_keys:
            if not key or key != key.strip() or "," in key:
                raise SettingsError("api_keys: a key is empty, has surrounding blanks or a comma")

    def to_env(self) -> str:
        """JSON for worker processes (SETTINGS_ENV). Keys are left out: each worker reads them from their source."""
        data = asdict(self)
        data["api_keys"] = []
        return json.dumps(data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from SETTINGS_ENV (written by `to_env`), with the API keys read again from env and file."""
        environ = os.environ if environ is None else environ
        raw = environ.get(SETTINGS_ENV)
        if raw is None:
            raise SettingsError(f"{SETTINGS_ENV} is not set; start the service with `sentimentkit serve`")
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"{SETTINGS_ENV}: unknown setting(s) {', '.join(unknown)}")
        settings = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        return replace(settings, api_keys=load_api_keys(settings.api_keys_file, environ))


def load_api_keys(file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """API keys from the environment (API_KEYS_ENV, comma-separated) and a file (one per line; blank lines and
    lines starting with # skipped). A file given but holding no key is an error: it would leave the service
    open by mistake."""
    environ = os.environ if environ is None else environ
    keys = [k.strip() for k in environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    if file is not None:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise SettingsError(f"{path}: cannot read the API keys file: {err}") from None
        found = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if not found:
            raise SettingsError(f"{path}: no API key in the file (one key per line); the service would be open")
        keys.extend(found)
    return tuple(dict.fromkeys(keys))


def parse_origins(origins: Sequence[str]) -> tuple[str, ...]:
    """CORS origins from repeated or comma-separated options ("https://a.example,https://b.example")."""
    return tuple(o.strip().rstrip("/") for value in origins for o in value.split(",") if o.strip())
