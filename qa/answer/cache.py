"""A bounded, thread-safe memo for functions that map a batch of texts to one result each."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchCache(Generic[T]):
    """``cache(texts)`` gives ``compute(texts)`` item by item, computing only the texts not
    seen lately, in one call; the oldest entries go beyond ``size``."""

    def __init__(self, compute: Callable[[list[str]], Sequence[T]], size: int) -> None:
        self._compute = compute
        self._size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[T]:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._items]
        fresh = dict(zip(missing, self._compute(missing))) if missing else {}
        with self._lock:
            for t, value in fresh.items():
                self._items[t] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            found = {t: self._items[t] for t in texts if t in self._items}
        # a text evicted by another thread in the meantime is computed again, outside the lock
        gone = [t for t in dict.fromkeys(texts) if t not in found and t not in fresh]
        if gone:
            found.update(zip(gone, self._compute(gone)))
        return [fresh[t] if t in fresh else found[t] for t in texts]
