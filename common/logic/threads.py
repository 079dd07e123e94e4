"""Work handed to a thread pool runs in the context of the code that hands it on.

``ThreadPoolExecutor`` runs each task in its worker thread's own context, so
context variables set by the caller (which invocation is running, say) do not
reach it. ``map_in_context`` gives each task a copy of the caller's context,
as ``asyncio`` does for its tasks. Outside Lambda this is what lets the local
stack and the tests check a pooled call against the function's IAM role
(docs/local-stack.md, "Permissions").
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_context(pool: Executor, task: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``pool.map(task, items)``, each call in its own copy of the caller's context."""
    contexts = [(contextvars.copy_context(), item) for item in items]
    return pool.map(lambda pair: pair[0].run(task, pair[1]), contexts)
