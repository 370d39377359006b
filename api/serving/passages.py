"""GET /v1/indexes/{name}/passages/{id}: one passage's text, split into sentences, with the sentence that best
supports a claim marked (the web page highlights it when a citation `[n]` is opened).

The supporting sentence is chosen by words, not by the embedder, so that an API process without models
answers at once: the sentence holding the claim's answer and most of its content words wins (the answer's
words count double, the answer as a whole phrase adds more); a sentence sharing no content word with the
claim supports nothing, and none is marked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from api.context import ServiceContext
from api.errors import not_found
from api.protocol.indexes import PassageDetail, SentenceSpan
from api.security import Principal
from api.serving.indexes import readable
from reasoning.text import answer_in_text, content_words, sentences
from retrieval.bundle import IndexBundle
from retrieval.documents import Passage

ANSWER_WEIGHT = 2  # a word of the answer counts this many times a word of the claim
PHRASE_BONUS = 3  # the answer as a whole phrase in the sentence


async def passage(
    context: ServiceContext, principal: Principal, name: str, passage_id: str, claim: str, answer: str
) -> PassageDetail:
    readable(context, principal, name)
    found = await asyncio.to_thread(_lookup, context, name, passage_id)
    if found is None:
        raise not_found(f"passage {passage_id!r} in index {name!r}")
    spans = sentence_spans(found.text)
    best = supporting_sentence([found.text[start:end] for start, end in spans], claim, answer)
    return PassageDetail(
        passage_id=found.id,
        doc_id=found.doc_id,
        title=found.title,
        text=found.text,
        sentences=[SentenceSpan(start=s, end=e, supporting=i == best) for i, (s, e) in enumerate(spans)],
    )


def _lookup(context: ServiceContext, name: str, passage_id: str) -> Passage | None:
    bundle = IndexBundle.open(context.runtime.index_dir(name))
    try:
        return bundle.store.get(passage_id)
    finally:
        bundle.store.close()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of the text's sentences (`reasoning.text.sentences`), in order."""
    spans = []
    position = 0
    for sentence in sentences(text):
        start = text.find(sentence, position)
        if start < 0:  # not expected: each sentence is a stripped slice of the text
            continue
        position = start + len(sentence)
        spans.append((start, position))
    return spans


def supporting_sentence(texts: Sequence[str], claim: str, answer: str = "") -> int | None:
    """The index of the sentence that best supports `claim` (with `answer`, the words it must hold), the
    first of equals; None when no sentence shares a content word with either."""
    claim_words, answer_words = content_words(claim), content_words(answer)
    best, best_score = None, 0
    for i, text in enumerate(texts):
        words = content_words(text)
        score = len(words & claim_words) + ANSWER_WEIGHT * len(words & answer_words)
        if score and answer and answer_in_text(answer, [text]):
            score += PHRASE_BONUS
        if score > best_score:
            best, best_score = i, score
    return best
