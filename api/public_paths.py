"""Server paths out of what the API answers: a path under the data root or the index root is shown relative
to it (`/srv/sleuth/data/docs/a.txt:3: ...` reads `docs/a.txt:3: ...`, the root itself `.`), in error
messages, job errors and results, and index manifests. Paths elsewhere are left as they are."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from api.settings import Settings


class PathRedactor:
    def __init__(self, roots: Iterable[Path]) -> None:
        names = {str(form) for root in roots for form in (root.expanduser().absolute(), root.expanduser().resolve())}
        ordered = sorted((name for name in names if name != "/"), key=len, reverse=True)  # the longest wins
        alternatives = "|".join(re.escape(name) for name in ordered)
        # a root where a path starts (not inside a longer one), followed by "/" or by the end of the path
        self._pattern = re.compile(rf"(?<![\w.~/-])(?:{alternatives})(?:(/)|(?![\w.-]))") if ordered else None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda match: "" if match.group(1) else ".", value)

    def json(self, value: Any) -> Any:
        """`value` (JSON: dicts, lists, strings, numbers) with every string's root paths made relative."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value


def public_paths(settings: Settings) -> PathRedactor:
    """The redactor of this service's data and index roots."""
    return _redactor(settings.worker.data_root, settings.worker.index_root)


@functools.lru_cache(maxsize=8)
def _redactor(data_root: Path, index_root: Path) -> PathRedactor:
    return PathRedactor((data_root, index_root))
