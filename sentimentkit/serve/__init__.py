"""The REST service: `create_app(settings)` -> FastAPI app; `sentimentkit serve` runs it with uvicorn.

Nothing heavy is imported here: the CLI mounts `serve.cli` at start-up, and `sentimentkit analyze` must not pay
for FastAPI. `create_app` and `ServeSettings` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServeSettings":
        from .settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
