"""The cross-encoder candidate of `sleuth critic train`: the packaged MiniLM fine-tuned, on the CPU, as a
binary classifier of (question, candidate answer + reasoning + evidence) pairs.

A plain PyTorch loop (binary cross-entropy on the single logit, AdamW, a few epochs) over the
sentence-transformers `CrossEncoder`'s model; the positives are weighted by the class ratio so a rare
"sufficient" label is not ignored. Small on purpose: one or two epochs over a few thousand pairs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluation.critic_training import decision_metrics, gated_decisions
from reasoning.critic import sigmoid
from reasoning.trained_critic import critic_pair_text

log = logging.getLogger(__name__)
MAX_LENGTH = 256
BATCH_SIZE = 16
LEARNING_RATE = 2e-5


def record_pair(record: dict[str, Any]) -> tuple[str, str]:
    """The (question, answer + reasoning + evidence) pair of a practice record, as the critic sees a chain."""
    evidence = [(str(e.get("title", "")), " ".join(e.get("sentences") or [])) for e in record.get("evidence") or []]
    facts = [str(f) for f in record.get("facts") or []]
    return str(record["question"]), critic_pair_text(str(record.get("answer") or ""), facts, evidence)


def fit_cross_encoder(
    records: Sequence[dict[str, Any]], y: np.ndarray, epochs: int, seed: int
) -> tuple[Any, dict[str, Any]]:
    """The fine-tuned CrossEncoder and what was done (epochs, steps, seconds)."""
    import torch
    from sentence_transformers import CrossEncoder

    from retrieval.embedders import packaged_model_path

    started = time.perf_counter()
    random.seed(seed)
    torch.manual_seed(seed)
    encoder = CrossEncoder(str(packaged_model_path()), num_labels=1, max_length=MAX_LENGTH, device="cpu")
    model, tokenizer = encoder.model, encoder.tokenizer
    pairs = [record_pair(r) for r in records]
    positives = max(1, int(y.sum()))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(max(1.0, (len(y) - positives) / positives)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    order = list(range(len(pairs)))
    steps = 0
    model.train()
    for epoch in range(epochs):
        random.shuffle(order)
        total = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            inputs = tokenizer(
                [pairs[i][0] for i in batch],
                [pairs[i][1] for i in batch],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**inputs).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor(y[batch], dtype=torch.float32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            steps += 1
        log.info("cross-encoder epoch %d: loss %.4f", epoch + 1, total / max(1, len(order)))
    model.eval()
    info = {
        "epochs": epochs,
        "steps": steps,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "max_length": MAX_LENGTH,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return encoder, info


def cross_encoder_probabilities(encoder: Any, records: Sequence[dict[str, Any]]) -> np.ndarray:
    import torch

    if not records:
        return np.zeros(0)
    logits = encoder.predict(
        [record_pair(r) for r in records], activation_fn=torch.nn.Identity(), show_progress_bar=False
    )
    return np.array([sigmoid(float(x)) for x in logits])


def evaluate_cross_encoder(
    encoder: Any, records: Sequence[dict[str, Any]], y: np.ndarray, threshold: float
) -> dict[str, Any]:
    p, decisions = gated_decisions(cross_encoder_probabilities(encoder, records), records, threshold)
    return decision_metrics(y, p, decisions)
