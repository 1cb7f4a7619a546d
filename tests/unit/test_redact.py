"""Credential redaction in Rust (``_core.scrub``, ``_core.is_secret_key``, ``_core.redact_json``) against its Python
reference (``pipeline/reference.py``: the regular expressions the service ran before they moved to
rust/src/redact.rs). Generated texts are built from the pieces the patterns look for (token prefixes,
``Bearer``, ``://``, quotes, separators) so that about half of them hit a pattern, partly or wholly.

Known, deliberate difference (not generated): at a word boundary Python's ``\\b`` counts every character that
``str.isalnum`` accepts, Rust's counts Unicode letters, marks and decimal digits only, so ``²bearer abcdefgh`` masks
in Python and not in Rust; likewise ``\\s`` for the control characters U+001C..U+001F.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_incident_manager import _core
from llm_incident_manager.notify import templates
from llm_incident_manager.pipeline.reference import clean_py as reference_clean
from llm_incident_manager.pipeline.reference import is_secret_key_py
from llm_incident_manager.pipeline.reference import scrub_py as reference_scrub

PIECES = [
    "sk-", "sk-ant-", "xoxb-", "xoxp-", "xapp-", "rk_live_", "pk_test_", "whsec_", "AKIA", "ASIA", "ghp_", "gho_",
    "github_pat_", "glpat-", "AIza", "hf_", "SG.", "eyJ", "hooks.slack.com/services/", "hooks.slack.com/triggers/",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----",
    "Bearer ", "bearer\t", "BEARER  ", "Authorization: ", "authorization=", "password=", "Passwd: ", "pwd:",
    "api_key=", "API-KEY: ", "client_secret=", "refresh-token=", '"', "'", "?token=", "&sig=", "?code=", "&key=",
    "https://", "://", "user:pw@", "a:b@", "@", ":", "/", ".", "_", "-", "=", "+", ",", ";", "&", "#", " ", "\n",
    "\t", "\u00a0", "é", "中", "ABCDEFGHIJKLMNOP", "abcdefghijklmnop", "0123456789", "Q7x9", "tokens=4096",
    "gpt-4o", "vllm-7f9c4d8b6-x2kqp",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(alphabet="aZ9_-.:/ @=\"'\n", max_size=4)), max_size=14).map(
    "".join
)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_scrub_agrees_with_the_python_reference(text: str) -> None:
    assert _core.scrub(text) == reference_scrub(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(max_size=20)))
def test_secret_keys_agree_with_the_python_reference(key: str) -> None:
    assert _core.is_secret_key(key) == is_secret_key_py(key)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        texts,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(texts, st.sampled_from(["api_key", "Session", "title", "x"])), inner, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_redact_json_agrees_with_the_python_reference(value: Any) -> None:
    (out,) = _core.redact_json([msgspec.json.encode(value)])
    assert json.loads(out) == reference_clean(value)


def test_redact_json_nulls_what_is_nested_deeper_than_32() -> None:
    deep: Any = "sk-abcdefgh12345678"
    for _ in range(40):
        deep = [deep]
    (out,) = _core.redact_json([msgspec.json.encode({"a": deep})])
    assert json.loads(out) == reference_clean({"a": deep})
    assert b"null" in out
    assert b"sk-" not in out


def test_redact_json_names_the_document_that_is_not_json() -> None:
    with pytest.raises(ValueError, match=r"docs\[1\]"):
        _core.redact_json([b"{}", b"{"])
    with pytest.raises(TypeError, match="list of bytes"):
        _core.redact_json(["{}"])  # type: ignore[list-item]


def test_scrub_returns_the_same_object_when_nothing_is_masked() -> None:
    text = "p99 latency of gpt-4o above 2s " + "x" * 3  # built at run time: not an interned constant
    assert _core.scrub(text) is text
    assert templates.scrub("key sk-abcdefgh1234") == "key [redacted]"


def test_scrub_takes_a_text_with_a_lone_surrogate() -> None:
    """Ingest's decoders refuse lone surrogates, but ``scrub`` also masks client error messages: it must not raise."""
    assert templates.scrub("\ud800 Bearer abcdefgh") == "? Bearer [redacted]"
