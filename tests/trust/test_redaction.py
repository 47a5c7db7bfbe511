from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from adaptive_gateway.trust.detectors import DetectorSet, Finding
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.redaction import (
    MAX_PLACEHOLDER,
    StreamRestorer,
    label_for,
    redact,
    restore,
)

LABELLED = Path(__file__).parent / "data" / "labelled.jsonl"
C, S = TrustLevel.CONFIDENTIAL, TrustLevel.SECRET


def finding(kind: str, start: int, end: int, level: TrustLevel = C, confidence: float = 0.9) -> Finding:
    return Finding(kind, start, end, confidence, level)


@pytest.fixture(scope="module")
def detectors() -> DetectorSet:
    return DetectorSet()


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("pii.email", "EMAIL"),
        ("secret.openai_key", "OPENAI_KEY"),
        ("custom.project-x", "PROJECT_X"),
        ("odd", "ODD"),
    ],
)
def test_label_for(kind: str, label: str) -> None:
    assert label_for(kind) == label


def test_placeholders_are_stable_and_numbered_per_label(detectors: DetectorSet) -> None:
    text = "mail a@example.com, b@example.com and a@example.com again; card 4111 1111 1111 1111"
    result = redact(text, detectors.scan(text))
    assert result.text == "mail [[EMAIL_1]], [[EMAIL_2]] and [[EMAIL_1]] again; card [[CREDIT_CARD_1]]"
    assert dict(result.mapping) == {
        "[[EMAIL_1]]": "a@example.com",
        "[[EMAIL_2]]": "b@example.com",
        "[[CREDIT_CARD_1]]": "4111 1111 1111 1111",
    }
    assert dict(result.counts) == {"pii.credit_card": 1, "pii.email": 3}
    assert restore(result.text, result.mapping) == text


def test_known_mapping_carries_across_messages(detectors: DetectorSet) -> None:
    first = redact("from a@example.com", detectors.scan("from a@example.com"))
    second_text = "cc b@example.com and a@example.com"
    second = redact(second_text, detectors.scan(second_text), known=first.mapping)
    assert second.text == "cc [[EMAIL_2]] and [[EMAIL_1]]"
    assert set(second.mapping) == {"[[EMAIL_1]]", "[[EMAIL_2]]"}


def test_placeholders_never_collide_with_text_already_present() -> None:
    text = "literal [[EMAIL_1]] then bob@example.com"
    result = redact(text, [finding("pii.email", 25, 40)])
    assert result.text == "literal [[EMAIL_1]] then [[EMAIL_2]]"
    assert restore("[[EMAIL_1]] / [[EMAIL_2]]", result.mapping) == "[[EMAIL_1]] / bob@example.com"


def test_mask_mode_removes_values_and_returns_no_mapping() -> None:
    text = "key sk-XYZ and mail bob@example.com"
    result = redact(text, [finding("secret.openai_key", 4, 10, S), finding("pii.email", 20, 35)], "mask")
    assert result.text == "key [REDACTED_OPENAI_KEY] and mail [REDACTED_EMAIL]"
    assert dict(result.mapping) == {}


def test_overlapping_findings_are_merged_and_fully_covered() -> None:
    text = "0123456789abcdef"
    findings = [finding("pii.email", 2, 8), finding("secret.jwt", 6, 12, S), finding("pii.phone", 3, 5)]
    result = redact(text, findings, "mask")
    assert result.text == "01[REDACTED_JWT]cdef"


def test_invalid_spans_and_modes_are_rejected() -> None:
    with pytest.raises(ValueError, match="outside text"):
        redact("short", [finding("pii.email", 2, 50)])
    with pytest.raises(ValueError, match="unknown redaction mode"):
        redact("short", [], "shred")  # type: ignore[arg-type]


def test_masking_never_leaves_a_value_in_the_output(detectors: DetectorSet) -> None:
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        findings = detectors.scan(text)
        masked = redact(text, findings, "mask")
        placeholder = redact(text, findings, "placeholder")
        for item in findings:
            value = text[item.start : item.end]
            assert value not in masked.text
            assert value not in placeholder.text
        assert restore(placeholder.text, placeholder.mapping) == text


def test_restore_leaves_unknown_placeholders_and_plain_text_alone() -> None:
    mapping = {"[[EMAIL_1]]": "a@example.com"}
    assert (
        restore("hi [[EMAIL_1]], not [[EMAIL_9]] or [[ x ]]", mapping)
        == "hi a@example.com, not [[EMAIL_9]] or [[ x ]]"
    )
    assert restore("no placeholders", mapping) == "no placeholders"
    assert restore("[[EMAIL_1]]", {}) == "[[EMAIL_1]]"


def stream(restorer: StreamRestorer, deltas: list[str]) -> tuple[str, list[str]]:
    emitted = [restorer.feed(delta) for delta in deltas]
    emitted.append(restorer.flush())
    return "".join(emitted), emitted


MAPPING = {"[[EMAIL_1]]": "a@example.com", "[[CREDIT_CARD_12]]": "4111 1111 1111 1111"}
ANSWER = "Sure: [[EMAIL_1]] paid with [[CREDIT_CARD_12]]; arrays like x[1] and [[a], [b]] stay. [[EMAIL_1]]"
RESTORED = restore(ANSWER, MAPPING)


@pytest.mark.parametrize("split", range(1, len(ANSWER)))
def test_stream_restorer_handles_every_two_way_split(split: int) -> None:
    output, _ = stream(StreamRestorer(MAPPING), [ANSWER[:split], ANSWER[split:]])
    assert output == RESTORED


def test_stream_restorer_with_single_character_and_random_deltas() -> None:
    output, emitted = stream(StreamRestorer(MAPPING), list(ANSWER))
    assert output == RESTORED
    assert not any("[[EMAIL" in piece or "[[CREDIT" in piece for piece in emitted)
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(ANSWER)), rng.randint(1, 12)))
        deltas = [ANSWER[a:b] for a, b in zip([0, *cuts], [*cuts, len(ANSWER)], strict=True)]
        assert stream(StreamRestorer(MAPPING), deltas)[0] == RESTORED


def test_stream_restorer_holds_back_only_a_possible_placeholder_prefix() -> None:
    restorer = StreamRestorer(MAPPING)
    assert restorer.feed("Hello [[EMA") == "Hello "
    assert restorer.feed("IL_1]") == ""
    assert restorer.feed("] and [1") == "a@example.com and [1"
    assert restorer.feed(" [[EMAIL_2") == " [[EMAIL_2"  # not a known placeholder: emitted at once
    assert restorer.feed("x[") == "x"
    assert restorer.flush() == "["


def test_stream_restorer_flushes_an_unfinished_prefix_verbatim() -> None:
    restorer = StreamRestorer(MAPPING)
    assert restorer.feed("cut off [[CREDIT_CA") == "cut off "
    assert restorer.flush() == "[[CREDIT_CA"
    assert restorer.feed("again [[EMAIL_1]]") == "again a@example.com"


def test_stream_restorer_without_mapping_is_a_pass_through() -> None:
    restorer = StreamRestorer({})
    assert restorer.feed("[[EMAIL_1") == "[[EMAIL_1"
    assert restorer.flush() == ""


def test_stream_restorer_buffer_is_bounded() -> None:
    restorer = StreamRestorer(MAPPING)
    emitted = restorer.feed("[[" + "A" * (MAX_PLACEHOLDER * 2))
    assert emitted.startswith("[[AAAA")
    assert restorer.flush() == ""
