"""Files a generation shares with the one before it: linked, never written again."""

from __future__ import annotations

import os
import shutil


def link_or_copy(source: str, target: str) -> None:
    """A hard link to ``source`` (a copy where the file system has none, or for the lock
    file, which a writer opens to lock)."""
    if os.path.basename(source).endswith("WRITELOCK"):
        shutil.copy2(source, target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
