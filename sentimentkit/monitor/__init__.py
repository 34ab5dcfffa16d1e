"""Stream monitoring: messages from Redis Streams, a followed JSON Lines file or stdin, scored in micro-batches,
stored, and checked against alert rules (per message, rolling windows, spikes) that notify a webhook, the log and
the store's alerts table. `sentimentkit monitor CONFIG.yaml` runs it; see `config` for the YAML.

Importing this package imports nothing heavy: `Monitor` (runner), `load_config` (config) load on use.
"""

from __future__ import annotations
