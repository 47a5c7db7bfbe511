"""Precision and recall on the shipped labelled set (tests/trust/data/labelled.jsonl).

Counts are per finding type and per string (a string expecting two e-mails and yielding one is one
true positive and one false negative). docs/trust.md reports the numbers this test measures.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from adaptive_gateway.trust.detectors import DetectorSet

DATA = Path(__file__).parent / "data" / "labelled.jsonl"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load() -> list[tuple[str, Counter[str]]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["text"], Counter(row["expected"])) for row in rows]


def score(group: str = "type") -> dict[str, Score]:
    """Scores keyed by finding type (group="type") or category (group="category")."""
    detectors = DetectorSet()
    scores: dict[str, Score] = {}
    for text, expected in load():
        found = Counter(f.type for f in detectors.scan(text))
        if group == "category":
            found = Counter(k.partition(".")[0] for k in found.elements())
            expected = Counter(k.partition(".")[0] for k in expected.elements())
        for key in set(found) | set(expected):
            entry = scores.setdefault(key, Score())
            entry.tp += min(found[key], expected[key])
            entry.fp += max(0, found[key] - expected[key])
            entry.fn += max(0, expected[key] - found[key])
    return scores


def overall(scores: dict[str, Score]) -> Score:
    total = Score()
    for entry in scores.values():
        total.tp, total.fp, total.fn = total.tp + entry.tp, total.fp + entry.fp, total.fn + entry.fn
    return total


def test_labelled_set_is_large_and_balanced() -> None:
    rows = load()
    assert len(rows) >= 200
    negatives = sum(1 for _, expected in rows if not expected)
    assert negatives >= 80, "hard negatives keep precision honest"
    types = {kind for _, expected in rows for kind in expected}
    assert len(types) >= 20


def test_overall_precision_and_recall() -> None:
    total = overall(score())
    assert total.precision >= 0.97
    assert total.recall >= 0.97


@pytest.mark.parametrize("category", ["secret", "pii"])
def test_precision_and_recall_per_category(category: str) -> None:
    entry = score("category")[category]
    assert entry.precision >= 0.97
    assert entry.recall >= 0.97


NATIONAL_IDS = ("uk_nino", "ca_sin", "in_aadhaar", "br_cpf", "es_dni", "nl_bsn", "it_fiscal_code", "fr_nir")


def test_every_national_id_has_examples() -> None:
    scores = score()
    support = {
        kind: scores[f"pii.{kind}"].tp + scores[f"pii.{kind}"].fn for kind in (*NATIONAL_IDS, "de_tax_id")
    }
    assert min(support.values()) >= 3, support


def test_every_type_has_decent_recall() -> None:
    weak = {kind: round(s.recall, 2) for kind, s in score().items() if s.tp + s.fn >= 3 and s.recall < 0.75}
    assert weak == {}


def report() -> str:
    """Markdown table of the current scores (used to update docs/trust.md)."""
    lines = ["| type | support | precision | recall |", "|---|---:|---:|---:|"]
    by_type = score()
    for kind in sorted(by_type):
        entry = by_type[kind]
        lines.append(f"| {kind} | {entry.tp + entry.fn} | {entry.precision:.2f} | {entry.recall:.2f} |")
    for name, entry in (*sorted(score("category").items()), ("overall", overall(by_type))):
        lines.append(f"| **{name}** | {entry.tp + entry.fn} | {entry.precision:.3f} | {entry.recall:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
