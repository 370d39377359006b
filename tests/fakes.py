"""Small fakes for unit tests of control flow. Never used on a path a user runs."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from kg.ner import Mention
from retrieval.embedder_runtime import EmbedderRuntime

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """A deterministic bag-of-words embedder: each word hashed to a dimension, then L2-normalised."""

    def __init__(self, dimension: int = 64, max_tokens: int = 128, delay: float = 0.0, name: str = "fake-hashing"):
        self._dimension = dimension
        self._max_tokens = max_tokens
        self.delay = delay  # seconds per embed call, to make builds slow enough to interrupt
        self._name = name
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                vectors[row, bucket % self._dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


class FailingEmbedder(HashingEmbedder):
    """Fails on its n-th embed call: a build that dies half way."""

    def __init__(self, fail_on_call: int = 1, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fail_on_call = fail_on_call

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls + 1 >= self.fail_on_call:
            raise RuntimeError("embedder failed on purpose")
        return super().embed(texts)


class RuntimeHashingEmbedder(HashingEmbedder):
    """A HashingEmbedder that knows its runtime (retrieval.embedder_runtime.RuntimeSwitchable) and records
    every switch to another one; its vectors do not depend on the runtime."""

    def __init__(self, runtime: EmbedderRuntime | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._runtime = runtime or EmbedderRuntime()
        self.switched_to: list[EmbedderRuntime] = []

    @property
    def runtime(self) -> EmbedderRuntime:
        return self._runtime

    def on_runtime(self, runtime: EmbedderRuntime) -> RuntimeHashingEmbedder:
        self.switched_to.append(runtime)
        return RuntimeHashingEmbedder(runtime, dimension=self.dimension, max_tokens=self.max_tokens, name=self.name)


class GazetteerExtractor:
    """A fake NER: finds the given names (longest first) in each text, sentence by sentence."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = sorted(names.items(), key=lambda item: -len(item[0]))  # name -> label

    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        for text in texts:
            yield self._mentions(text)

    def _mentions(self, text: str) -> list[Mention]:
        found: list[Mention] = []
        taken: set[int] = set()
        for name, label in self.names:
            for match in re.finditer(re.escape(name), text):
                if taken & set(range(match.start(), match.end())):
                    continue
                taken.update(range(match.start(), match.end()))
                sentence = text[: match.start()].count(". ")
                found.append(Mention(name, label, sentence, match.start(), match.end()))
        return sorted(found, key=lambda m: m.start)
