"""Which Delta version of each table a service last announced on the control topic.

A service commits to Delta first and announces the commit afterwards; a crash in between leaves a
commit nobody heard of. The last version whose event Kafka acknowledged is kept per table in a small
JSON file (replaced atomically), so at start-up the service can announce what came after it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import orjson


class AnnouncedState:
    """``{table: last announced version}`` in a small JSON file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.versions: dict[str, int] = {}
        if path.exists():
            self.versions = {str(k): int(v) for k, v in orjson.loads(path.read_bytes()).items()}

    def last(self, table: str) -> int:
        return self.versions.get(table, -1)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".announced-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(self.versions, option=orjson.OPT_SORT_KEYS))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
