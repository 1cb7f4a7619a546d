"""How well a grouping matches a ground truth: B-cubed precision and recall, and noise reduction.

B-cubed (Bagga & Baldwin, 1998) scores every item: precision is the share of the items in its predicted
incident that truly belong with it, recall the share of its true incident that was put with it; both are
averaged over the items. Computed from the counts of (predicted, true) pairs, so it is linear in the items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

__all__ = ["GroupingScore", "score_grouping"]


class GroupingScore(msgspec.Struct, frozen=True):
    alerts: int
    incidents: int
    true_incidents: int
    noise_reduction: float
    #: the best noise reduction a perfect grouping would reach: 1 - true incidents / alerts
    ceiling: float
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def score_grouping(pairs: Iterable[tuple[str, str]]) -> GroupingScore:
    """Scores ``(predicted incident, true incident)`` per alert."""
    joint: Counter[tuple[str, str]] = Counter(pairs)
    predicted: Counter[str] = Counter()
    truth: Counter[str] = Counter()
    for (p, t), n in joint.items():
        predicted[p] += n
        truth[t] += n
    total = sum(joint.values())
    if total == 0:
        return GroupingScore(0, 0, 0, 0.0, 0.0, 1.0, 1.0)
    precision = sum(n * n / predicted[p] for (p, _), n in joint.items()) / total
    recall = sum(n * n / truth[t] for (_, t), n in joint.items()) / total
    return GroupingScore(
        alerts=total,
        incidents=len(predicted),
        true_incidents=len(truth),
        noise_reduction=1 - len(predicted) / total,
        ceiling=1 - len(truth) / total,
        precision=precision,
        recall=recall,
    )
