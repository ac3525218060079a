"""Entry point of the ``corpus`` console script."""

from __future__ import annotations

from . import ask as _ask  # noqa: F401  (registers commands)
from . import build as _build  # noqa: F401
from . import evaluate as _evaluate  # noqa: F401
from . import search as _search  # noqa: F401
from . import serve as _serve  # noqa: F401
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
