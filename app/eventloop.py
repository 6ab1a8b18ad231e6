"""Run a coroutine on the fastest event loop available, as uvicorn does for the service.

uvloop (installed with ``uvicorn[standard]`` on Linux and macOS) roughly halves the CPU the
webhook dispatcher spends per delivery (bench/webhooks.py); elsewhere the standard loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # Windows, PyPy
        return asyncio.run(main)
    return uvloop.run(main)
