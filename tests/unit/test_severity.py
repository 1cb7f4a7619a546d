from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.severity import SEVERITY_ALIASES, parse_severity
from llm_incident_manager.errors import InvalidInput
from llm_incident_manager.ingest.normalize import severity_or_default


@pytest.mark.parametrize(
    ("word", "level"),
    [
        ("P1", "critical"),
        ("p2", "high"),
        ("P3", "medium"),
        ("P4", "low"),
        ("P5", "info"),
        ("critical", "critical"),
        ("error", "high"),
        ("warning", "medium"),
        ("info", "info"),
        ("page", "critical"),
        ("warn", "medium"),
        ("SEV2", "high"),
        (" High ", "high"),
        ("none", "info"),
    ],
)
def test_documented_words(word: str, level: str) -> None:
    assert parse_severity(word) is Severity(level)


@given(
    st.sampled_from(sorted(SEVERITY_ALIASES)),
    st.sampled_from([str.upper, str.lower, str.title]),
    st.sampled_from(["", " ", "\t"]),
)
def test_case_and_whitespace_do_not_matter(word: str, case: object, pad: str) -> None:
    assert parse_severity(pad + case(word) + pad) is SEVERITY_ALIASES[word]  # type: ignore[operator]


@given(st.text(max_size=12).filter(lambda w: w.strip().lower() not in SEVERITY_ALIASES))
def test_unknown_words(word: str) -> None:
    assert parse_severity(word) is None
    assert severity_or_default(word, "labels.severity", strict=False) is Severity.MEDIUM
    if word:
        with pytest.raises(InvalidInput) as info:
            severity_or_default(word, "[2].severity", strict=True)
        assert info.value.errors[0].field == "[2].severity"
