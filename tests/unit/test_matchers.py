"""Alertmanager's label matchers: parsing (both of Alertmanager's parsers and its fallback between them), matching,
the canonical form, the legacy ``match``/``match_re`` maps, and Go's regular expressions.

The inputs of the parse tables are Alertmanager's own test inputs (``matchers/parse/parse_test.go``,
``pkg/labels/parse_test.go``) with the readings Alertmanager gives them. The last tests compare with a real
``amtool`` where Debian's prometheus-alertmanager is installed (0.25: the classic parser and Go's regexp)."""

from __future__ import annotations

import logging
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from llm_incident_manager.routing.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    ParseMode,
    compile_regex,
    format_matchers,
    from_legacy,
    matches_all,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)

EQ, NE, RE, NRE = MatchType.EQ, MatchType.NE, MatchType.RE, MatchType.NRE
M = Matcher


@dataclass(frozen=True)
class Err:
    """The error a parse must raise: its message, exactly."""

    message: str


def _parse(text: str, mode: ParseMode) -> list[Matcher] | Err:
    try:
        return parse_matchers(text, mode=mode)
    except MatcherError as exc:
        return Err(str(exc))


# -- parsing: what Alertmanager reads by default (the UTF-8 parser, falling back to the classic one) -------------
PARSE_OK = [
    # matchers/parse/parse_test.go
    ("", []),
    ("{}", []),
    ('{foo="bar"}', [M("foo", EQ, "bar")]),
    ('{foo="🙂"}', [M("foo", EQ, "🙂")]),
    ("{foo=bar}", [M("foo", EQ, "bar")]),
    ('foo="bar"', [M("foo", EQ, "bar")]),
    ("foo=bar", [M("foo", EQ, "bar")]),
    ('{foo="bar",}', [M("foo", EQ, "bar")]),
    ('foo="bar",', [M("foo", EQ, "bar")]),
    ('{foo="bar\\n"}', [M("foo", EQ, "bar\n")]),
    ('{foo="\\"bar\\""}', [M("foo", EQ, '"bar"')]),
    ('{foo="bar\\\\"}', [M("foo", EQ, "bar\\")]),
    ('{foo!="bar"}', [M("foo", NE, "bar")]),
    ('{foo=~"[a-z]+"}', [M("foo", RE, "[a-z]+")]),
    ('{foo!~"[a-z]+"}', [M("foo", NRE, "[a-z]+")]),
    ("{foo=~[a-z]+}", [M("foo", RE, "[a-z]+")]),
    ("foo!~[a-z]+", [M("foo", NRE, "[a-z]+")]),
    ('{foo="bar",bar!="baz"}', [M("foo", EQ, "bar"), M("bar", NE, "baz")]),
    ("{foo=bar,bar!=baz}", [M("foo", EQ, "bar"), M("bar", NE, "baz")]),
    ('foo="bar",bar!="baz"', [M("foo", EQ, "bar"), M("bar", NE, "baz")]),
    ("foo=bar,bar!=baz", [M("foo", EQ, "bar"), M("bar", NE, "baz")]),
    ("{foo=🙂bar}", [M("foo", EQ, "🙂bar")]),
    ('{"foo"="bar"}', [M("foo", EQ, "bar")]),
    ('{"foo"=~"[a-z]+"}', [M("foo", RE, "[a-z]+")]),
    ('"foo"="bar",', [M("foo", EQ, "bar")]),
    ('{"foo"="\\xf0\\x9f\\x99\\x82"}', [M("foo", EQ, "🙂")]),
    ('{"foo"="\\U0001f642"}', [M("foo", EQ, "🙂")]),
    ('{"foo"="bar\\t"}', [M("foo", EQ, "bar\t")]),
    # UTF-8 names, spaces, a comma inside quotes
    ('"service name"="api"', [M("service name", EQ, "api")]),
    ('service.name="api"', [M("service.name", EQ, "api")]),
    ('名前="値"', [M("名前", EQ, "値")]),
    ('"a\\"b"="c"', [M('a"b', EQ, "c")]),
    ('  {  foo = "bar" ,  }  ', [M("foo", EQ, "bar")]),
    ('{foo="bar,quux", job="job1"}', [M("foo", EQ, "bar,quux"), M("job", EQ, "job1")]),
    # pkg/labels/parse_test.go: what only the classic parser reads
    ("{foo='}", [M("foo", EQ, "'")]),
    ("{foo=`}", [M("foo", EQ, "`")]),
    ('{foo=\\"}', [M("foo", EQ, '"')]),
    ('{foo = "bar", dings != "bums", }', [M("foo", EQ, "bar"), M("dings", NE, "bums")]),
    (
        '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
        [M("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')],
    ),
    ('statuscode=~"5.."', [M("statuscode", RE, "5..")]),
    ("tricky=~~~", [M("tricky", RE, "~~")]),
    ('trickier==\\\\=\\=\\"', [M("trickier", EQ, '=\\=\\="')]),
    (
        'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
        [M("contains_quote", NE, '"'), M("contains_comma", NRE, "foo,bar")],
    ),
    ("{foo=bar}}", [M("foo", EQ, "bar}")]),
    ("{foo=bar}},}", [M("foo", EQ, "bar}}")]),
    ("{foo=,bar=}}", [M("foo", EQ, ""), M("bar", EQ, "}")]),
    ("{foo=bar\\t}", [M("foo", EQ, "bar\\t")]),
    ("{foo=bar\\n}", [M("foo", EQ, "bar\n")]),
    ("{foo=bar\\}", [M("foo", EQ, "bar\\")]),
    ("{foo=bar\\\\}", [M("foo", EQ, "bar\\")]),
    ('{foo=bar\\"}', [M("foo", EQ, 'bar"')]),
    ("job=", [M("job", EQ, "")]),
    ("{foo=", [M("foo", EQ, "")]),
    ("{foo=}b", [M("foo", EQ, "}b")]),
    ("foo=bar baz", [M("foo", EQ, "bar baz")]),
    ("foo=~~bar", [M("foo", RE, "~bar")]),
    ('{foo="bar"', [M("foo", EQ, "bar")]),
    ('foo="bar"}', [M("foo", EQ, "bar")]),
    ("{", []),
    ("}", []),
    ('{invalid-name = "valid label"}', [M("invalid-name", EQ, "valid label")]),
    # both read it, differently: Alertmanager takes the classic reading
    ('foo="bar\\t"', [M("foo", EQ, "bar\\t")]),
    ('foo="\\xf0\\x9f\\x99\\x82"', [M("foo", EQ, "\\xf0\\x9f\\x99\\x82")]),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_OK)
def test_parse_as_alertmanager_reads_by_default(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


PARSE_ERRORS = [
    (",", 'expected a label name, found "," at column 1'),
    ("{,}", 'expected a label name, found "," at column 2'),
    ("=bar", 'expected a label name, found "=" at column 1'),
    ("foo", 'expected an operator (=, !=, =~, !~) after "foo", found the end of the input'),
    ("foo bar", 'expected an operator (=, !=, =~, !~) after "foo", found "bar" at column 5'),
    ('foo=~~"bar"', 'unknown operator "=~~"'),
    ('foo=="bar"', 'unknown operator "=="'),
    ("foo!bar", 'unknown operator "!"'),
    ('foo=!"bar"', 'unknown operator "=!"'),
    ('foo="bar', "unterminated quoted string (opened at column 5)"),
    ('"foo=bar', "unterminated quoted string (opened at column 1)"),
    ('foo="bar" baz="qux"', 'expected "," or "}" after foo="bar", found "baz" at column 11'),
    ('foo="bar",,', 'expected a matcher or "}" after ",", found "," at column 11'),
    ('{foo="bar"}x="y"', 'unexpected "x" at column 12 after the closing "}"'),
    ('{foo=~"invalid[regexp"}', 'invalid regular expression "invalid[regexp": missing closing ]: [regexp)$'),
    ('{foo=~"("}', 'invalid regular expression "(": missing )'),
    (
        'foo=~"(?=a)"',
        'invalid regular expression "(?=a)": unsupported group syntax (?= (RE2 has no lookarounds, '
        "backreferences, atomic groups, comments or conditionals)",
    ),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    assert str(info.value) == message


# -- each of Alertmanager's parsers on its own -------------------------------------------------------------------
PARSE_BY_MODE: list[tuple[str, list[Matcher] | Err, list[Matcher] | Err]] = [
    # (text, UTF-8 parser, classic parser)
    ('foo="bar\\t"', [M("foo", EQ, "bar\t")], [M("foo", EQ, "bar\\t")]),
    (
        '{"foo"="\\xf0\\x9f\\x99\\x82"}',
        [M("foo", EQ, "🙂")],
        Err(
            'bad matcher format "\\"foo\\"=\\"\\\\xf0\\\\x9f\\\\x99\\\\x82\\"": expected a label name, an operator '
            "(=, !=, =~, !~) and a value"
        ),
    ),
    ('foo="\\xf0\\x9f"', Err("invalid UTF-8 in the quoted string at column 5"), [M("foo", EQ, "\\xf0\\x9f")]),
    ("foo=~~bar", Err('unknown operator "=~~"'), [M("foo", RE, "~bar")]),
    ('foo=~~"bar"', Err('unknown operator "=~~"'), Err('unescaped double quote in the value "~\\"bar\\""')),
    ('{foo="bar"', Err('missing closing "}"'), [M("foo", EQ, "bar")]),
    ('foo="bar"}', Err('"}" at column 10 has no opening "{"'), [M("foo", EQ, "bar")]),
    (
        "foo='bar'",
        Err('unexpected "\'" at column 5 (quote names and values with double quotes)'),
        [M("foo", EQ, "'bar'")],
    ),
    ("job=", Err('expected a value after "job=", found the end of the input'), [M("job", EQ, "")]),
    ("foo=bar baz", Err('expected "," or "}" after foo="bar", found "baz" at column 9'), [M("foo", EQ, "bar baz")]),
    ('foo="a\\qb"', Err("invalid escape \\q in the quoted string at column 5"), [M("foo", EQ, "a\\qb")]),
    ('foo="a\nb"', Err("a line break (write \\n) in the quoted string at column 5"), [M("foo", EQ, "a\nb")]),
    ("{foo=bar\\n}", Err('unexpected "\\\\" at column 9'), [M("foo", EQ, "bar\n")]),
    (
        "service.name=api",
        [M("service.name", EQ, "api")],
        Err('bad matcher format "service.name=api": expected a label name, an operator (=, !=, =~, !~) and a value'),
    ),
    (
        '"foo"="bar"',
        [M("foo", EQ, "bar")],
        Err('bad matcher format "\\"foo\\"=\\"bar\\"": expected a label name, an operator (=, !=, =~, !~) and a value'),
    ),
    ("{", Err('missing closing "}"'), []),
    ("}", Err('"}" at column 1 has no opening "{"'), []),
    (
        "{foo=bar,,baz=qux}",
        Err('expected a matcher or "}" after ",", found "," at column 10'),
        Err('bad matcher format "": expected a label name, an operator (=, !=, =~, !~) and a value'),
    ),
]


@pytest.mark.parametrize(("text", "utf8", "classic"), PARSE_BY_MODE)
def test_each_parser_alone(text: str, utf8: list[Matcher] | Err, classic: list[Matcher] | Err) -> None:
    assert _parse(text, ParseMode.UTF8) == utf8
    assert _parse(text, ParseMode.CLASSIC) == classic
    # the default: the UTF-8 reading, unless it fails or the classic parser reads the text differently
    assert _parse(text, ParseMode.FALLBACK) == (utf8 if isinstance(classic, Err) else classic)


def test_the_fallback_is_logged_with_a_suggestion(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_incident_manager.routing.matchers"):
        assert parse_matchers("foo=bar baz,x=~~y") == [M("foo", EQ, "bar baz"), M("x", RE, "~y")]
        assert parse_matchers('foo="\\t"') == [M("foo", EQ, "\\t")]
        assert parse_matchers('foo="bar"') == [M("foo", EQ, "bar")]
    assert [r.getMessage() for r in caplog.records] == [
        'matchers "foo=bar baz,x=~~y" are not valid in Alertmanager\'s UTF-8 syntax (expected "," or "}" after '
        'foo="bar", found "baz" at column 9); read by the classic parser as foo="bar baz",x=~"~y"',
        'matchers "foo=\\"\\\\t\\"" are read differently by Alertmanager\'s UTF-8 and classic parsers; the '
        'classic reading is used: foo="\\\\t"',
    ]


PARSE_ONE = [
    # (text, default reading)
    ('foo="bar"', M("foo", EQ, "bar")),
    ("foo=bar", M("foo", EQ, "bar")),
    ('foo!~"a|b"', M("foo", NRE, "a|b")),
    ('"foo"=~"[a-z]+"', M("foo", RE, "[a-z]+")),
    ('foo="bar",', M("foo", EQ, "bar")),
    ("foo=🙂bar", M("foo", EQ, "🙂bar")),
    # the classic parser reads one matcher up to the end: Alertmanager takes that when the UTF-8 parser fails
    ("foo=a,bar=b", M("foo", EQ, "a,bar=b")),
    ("", Err("expected one matcher, found none")),
    ('foo="a",bar="b"', Err("expected one matcher, found 2")),
    ('{foo="bar"}', Err('a single matcher takes no braces: remove "{" and "}"')),
    ("{foo=bar", Err('a single matcher takes no braces: remove "{" and "}"')),
    ('foo="bar', Err("unterminated quoted string (opened at column 5)")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_ONE)
def test_parse_one_matcher(text: str, expected: Matcher | Err) -> None:
    try:
        got: Matcher | Err = parse_matcher(text)
    except MatcherError as exc:
        got = Err(str(exc))
    assert got == expected


def test_one_matcher_in_each_mode() -> None:
    assert parse_matcher("foo=a,bar=b", mode=ParseMode.CLASSIC) == M("foo", EQ, "a,bar=b")
    with pytest.raises(MatcherError, match="bad matcher format"):
        parse_matcher("{foo=bar}", mode=ParseMode.CLASSIC)
    with pytest.raises(MatcherError, match="expected one matcher, found 2"):
        parse_matcher("foo=a,bar=b", mode=ParseMode.UTF8)
    with pytest.raises(MatcherError, match="takes no braces"):
        parse_matcher("{foo=bar}", mode=ParseMode.UTF8)
    assert parse_matcher('"a b"="c"', mode=ParseMode.UTF8) == M("a b", EQ, "c")


# -- matching ---------------------------------------------------------------------------------------------------
MATCHES = [
    # (matcher, labels, matches)
    ('foo="bar"', {"foo": "bar"}, True),
    ('foo="bar"', {"foo": "baz"}, False),
    ('foo="bar"', {}, False),
    ('foo!="bar"', {}, True),  # a missing label is the empty string
    ('foo!="bar"', {"foo": "bar"}, False),
    ('foo=""', {}, True),
    ('foo=""', {"foo": ""}, True),
    ('foo=""', {"foo": "x"}, False),
    ('foo!=""', {}, False),
    ('foo!=""', {"foo": "x"}, True),
    ('foo=~"ba"', {"foo": "bar"}, False),  # anchored at both ends
    ('foo=~"ba"', {"foo": "xba"}, False),
    ('foo=~"ba"', {"foo": "ba"}, True),
    ('foo=~"bar|baz"', {"foo": "baz"}, True),
    ('foo=~"bar|baz"', {"foo": "barbaz"}, False),
    ('foo=~".*"', {}, True),
    ('foo=~".+"', {}, False),
    ('foo!~"ba.*"', {"foo": "bar"}, False),
    ('foo!~"ba.*"', {"foo": "qux"}, True),
    ('foo!~"ba.*"', {}, True),
    ('foo!~""', {}, False),
    ('foo=~"(?i)critical"', {"foo": "CRITICAL"}, True),
    ('foo=~"a(?i)b|c"', {"foo": "C"}, True),  # (?i) is in force to the end of its group, across |
    ('foo=~"a(?i)b|c"', {"foo": "aB"}, True),
    ('foo=~"a(?i)b|c"', {"foo": "Ab"}, False),
    ('foo=~"(?i:a)b"', {"foo": "Ab"}, True),
    ('foo=~"(?i:a)b"', {"foo": "AB"}, False),
    ('foo=~"\\\\d+"', {"foo": "123"}, True),
    ('foo=~"\\\\d+"', {"foo": "١٢٣"}, False),  # \d is ASCII in Go
    ('foo=~"\\\\w+"', {"foo": "é"}, False),
    ('foo=~"\\\\s"', {"foo": "\u2003"}, False),
    ('foo=~"\\\\s"', {"foo": "\v"}, False),  # \s is [\t\n\f\r ] in Go
    ('foo=~"a.b"', {"foo": "a\nb"}, False),
    ('foo=~"(?s)a.b"', {"foo": "a\nb"}, True),
    ('foo=~"foo"', {"foo": "foo\n"}, False),
    ('foo=~"a$\\\\n"', {"foo": "a\n"}, False),  # $ is the end of the text
    ('foo=~"(?m)a$\\\\n"', {"foo": "a\n"}, True),
    ('foo=~"[[:alpha:]]+"', {"foo": "abc"}, True),
    ('foo=~"[[:alpha:]]+"', {"foo": "ab1"}, False),
    ('foo=~"[[:^digit:]]+"', {"foo": "ab"}, True),
    ('foo=~"x{,2}"', {"foo": "x{,2}"}, True),  # not a repetition in Go
    ('foo=~"x{,2}"', {"foo": "xx"}, False),
    ('foo=~"x{2}"', {"foo": "xx"}, True),
    ('foo=~"\\\\Qa.b\\\\E"', {"foo": "a.b"}, True),
    ('foo=~"\\\\Qa.b\\\\E"', {"foo": "axb"}, False),
    ('foo=~"\\\\x{1F642}"', {"foo": "🙂"}, True),
    ('foo=~"\\\\101"', {"foo": "A"}, True),
    ('foo=~"(?P<x>a)(?<y>b)"', {"foo": "ab"}, True),
    ('foo=~"\\\\bfoo\\\\b.*"', {"foo": "foo bar"}, True),
    ('foo=~".*\\\\bfoo"', {"foo": "éfoo"}, True),  # é is no word character in Go's \b
    ('foo=~"(?U)a+b"', {"foo": "aab"}, True),
    ('foo=~"[\\\\d-z]+"', {"foo": "1-z"}, True),
    ('foo=~"^?a$?"', {"foo": "a"}, True),  # Go repeats assertions
    ('foo=~"\\\\Qa.b\\\\E+"', {"foo": "a.bb"}, True),
    # Alertmanager wraps the pattern in ^(?:...)$ and searches: what closes its group escapes the anchors
    ('foo=~"a)|(b"', {"foo": "axyz"}, True),
    ('foo=~"a)|(b"', {"foo": "xyzb"}, True),
    ('foo=~"a)|(b"', {"foo": "xaz"}, False),
    ('"service.name"="api"', {"service.name": "api"}, True),
    ('"service.name"="api"', {"service": "api"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    matcher = parse_matcher(text, mode=ParseMode.UTF8)
    assert matcher.matches(labels) is expected


def test_matches_all() -> None:
    matchers = parse_matchers('{severity=~"critical|high", team!="db"}')
    assert matches_all(matchers, {"severity": "high", "team": "web"})
    assert not matches_all(matchers, {"severity": "high", "team": "db"})
    assert not matches_all(matchers, {"team": "web"})
    assert matches_all([], {})


REGEX_REFUSED = [
    # what RE2 does not have, refused as Alertmanager refuses it
    ("(?=a)", "unsupported group syntax (?="),
    ("(?!a)", "unsupported group syntax (?!"),
    ("(?<=a)b", "unsupported group syntax (?<"),
    ("(?<!a)b", "unsupported group syntax (?<"),
    ("(?P=n)", "unsupported group syntax (?P"),
    ("(?#comment)", "unsupported group syntax (?#"),
    ("(?>a)", "unsupported group syntax (?>"),
    ("(?x)a", "unsupported group syntax (?x"),
    ("(a)\\1", "invalid escape sequence \\1 (RE2 has no backreferences)"),
    ("a*+", "invalid nested repetition operator *+"),
    ("a++", "invalid nested repetition operator ++"),
    ("a**", "invalid nested repetition operator **"),
    ("a*??", "invalid nested repetition operator *??"),
    ("a{2}*", "invalid nested repetition operator {2}*"),
    ("\\Z", "invalid escape sequence \\Z"),
    ("\\e", "invalid escape sequence \\e"),
    ("\\8", "invalid escape sequence \\8"),
    ("\\é", "invalid escape sequence \\é"),
    ("[\\b]", "invalid escape sequence \\b"),
    ("\\x4", "invalid escape sequence \\x4"),
    ("\\x{110000}", "invalid escape sequence \\x{110000}"),
    ("a{1001}", "invalid repeat count {1001}"),
    ("a{2,1}", "invalid repeat count {2,1}"),
    ("(?P<n>a)(?P<n>b)", "duplicate capture group name n"),
    ("(?P<a-b>x)", "invalid named capture (?P<a-b>"),
    ("[[:foo:]]", "invalid character class range [:foo:]"),
    ("[z-a]", "invalid character class range z-a"),
    ("[a", "missing closing ]: [a)$"),
    ("\\Qa", "missing )"),  # an unterminated \Q quotes the ")$" Alertmanager wraps the pattern in
    ("(a", "missing )"),
    ("a)", "unexpected )"),
    ("\\", "missing )"),  # the backslash escapes the ")" of the wrapping
    ("*", "nothing to repeat"),
    # what Python's re cannot do (Alertmanager accepts these)
    ("\\p{Greek}", "Unicode character classes (\\p) are not supported here"),
    ("\\PL", "Unicode character classes (\\P) are not supported here"),
]


@pytest.mark.parametrize(("pattern", "message"), REGEX_REFUSED)
def test_regular_expressions_refused(pattern: str, message: str) -> None:
    with pytest.raises(MatcherError) as info:
        Matcher("foo", RE, pattern)
    assert str(info.value).startswith("invalid regular expression ")
    assert message in str(info.value)


def test_a_regex_is_compiled_once() -> None:
    assert compile_regex("a|b") is compile_regex("a|b")
    assert M("x", RE, "a|b") == M("x", "=~", "a|b")


# -- the canonical form -----------------------------------------------------------------------------------------
STRINGS = [
    (M("foo", EQ, "bar"), 'foo="bar"'),
    (M("foo", NE, ""), 'foo!=""'),
    (M("foo", RE, "a|b"), 'foo=~"a|b"'),
    (M("foo", NRE, "x.*"), 'foo!~"x.*"'),
    (M("foo", EQ, 'a"b\\c\nd\te'), 'foo="a\\"b\\\\c\\nd\te"'),  # OpenMetrics escaping: only \\, \" and \n
    (M("service.name", EQ, "api"), 'service.name="api"'),
    (M("名前", EQ, "値"), '名前="値"'),
    (M("service name", EQ, "a\tb"), '"service name"="a\\tb"'),  # a quoted name: both quoted as Go quotes
    (M('a"b', EQ, "🙂\x00\u200b"), '"a\\"b"="🙂\\x00\\u200b"'),
    (M("a,b", EQ, "c"), '"a,b"="c"'),
    (M("a\\b", EQ, "c"), '"a\\\\b"="c"'),
]


@pytest.mark.parametrize(("matcher", "text"), STRINGS)
def test_canonical_form(matcher: Matcher, text: str) -> None:
    assert str(matcher) == text
    assert parse_matcher(text) == matcher
    assert parse_matcher(text, mode=ParseMode.UTF8) == matcher


def test_sort_and_format_as_alertmanager() -> None:
    matchers = [M("b", EQ, "1"), M("a", NRE, "x"), M("a", EQ, "x"), M("a", EQ, "w"), M("a", RE, "x")]
    ordered = sort_matchers(matchers)
    assert ordered == [M("a", EQ, "w"), M("a", EQ, "x"), M("a", RE, "x"), M("a", NRE, "x"), M("b", EQ, "1")]
    assert format_matchers(ordered[:2]) == '{a="w",a="x"}'
    assert format_matchers([]) == "{}"


def test_matchers_are_values() -> None:
    m = M("foo", RE, "a.*")
    assert m == M("foo", "=~", "a.*")
    assert m != M("foo", NRE, "a.*")
    assert len({m, M("foo", RE, "a.*")}) == 1
    assert repr(m) == "Matcher('foo', '=~', 'a.*')"
    with pytest.raises(AttributeError):
        m.value = "b"  # type: ignore[misc]
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(m)) == m  # noqa: S301
    assert copy.deepcopy(m).matches({"foo": "abc"})
    with pytest.raises(MatcherError, match='unknown operator "=~~"'):
        M("foo", "=~~", "x")


# -- the legacy match / match_re ----------------------------------------------------------------------------------
def test_legacy_match_and_match_re() -> None:
    matchers = from_legacy({"severity": "critical", "env": "prod"}, {"team": "db|infra"})
    assert matchers == [M("severity", EQ, "critical"), M("env", EQ, "prod"), M("team", RE, "db|infra")]
    assert matches_all(matchers, {"severity": "critical", "env": "prod", "team": "infra"})
    assert not matches_all(matchers, {"severity": "critical", "env": "prod", "team": "infrastructure"})
    assert from_legacy(None, None) == []
    assert from_legacy({}, {"x": ""}) == [M("x", RE, "")]


LEGACY_ERRORS = [
    # (match, match_re, keys, message)
    (None, {"severity": "("}, {}, 'label "severity": invalid regular expression "(": missing )'),
    ({"": "x"}, None, {}, "a label name must not be empty"),
    (
        None,
        {"severity": "("},
        {"match_re_key": "source_match_re"},
        'source_match_re.severity: invalid regular expression "(": missing )',
    ),
    (
        None,
        {"a b": "("},
        {"match_re_key": "target_match_re"},
        'target_match_re["a b"]: invalid regular expression "(": missing )',
    ),
    ({"": "x"}, None, {"match_key": "target_match"}, "target_match: a label name must not be empty"),
]


@pytest.mark.parametrize(("match", "match_re", "keys", "message"), LEGACY_ERRORS)
def test_legacy_errors(
    match: dict[str, str] | None, match_re: dict[str, str] | None, keys: dict[str, str], message: str
) -> None:
    with pytest.raises(MatcherError) as info:
        from_legacy(match, match_re, **keys)
    assert str(info.value) == message


# -- properties ---------------------------------------------------------------------------------------------------
names = st.text(min_size=1, max_size=12)
values = st.text(max_size=16)
types = st.sampled_from(list(MatchType))


def _matcher(name: str, match_type: MatchType, value: str) -> Matcher:
    try:
        return Matcher(name, match_type, value)
    except MatcherError:
        assume(False)
        raise


@given(names, types, values)
def test_the_canonical_form_reads_back(name: str, match_type: MatchType, value: str) -> None:
    matcher = _matcher(name, match_type, value)
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matcher(str(matcher), mode=ParseMode.UTF8) == matcher
    assert parse_matchers(f"{{{matcher},}}") == [matcher]


@given(st.lists(st.tuples(names, types, values), max_size=4))
def test_a_list_reads_back(parts: list[tuple[str, MatchType, str]]) -> None:
    matchers = [_matcher(*part) for part in parts]
    assert parse_matchers(format_matchers(matchers)) == matchers
    assert parse_matchers(",".join(map(str, matchers))) == matchers


@given(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), types, values)
def test_prometheus_names_read_the_same_in_both_parsers(name: str, match_type: MatchType, value: str) -> None:
    matcher = _matcher(name, match_type, value)
    assert parse_matcher(str(matcher), mode=ParseMode.CLASSIC) == matcher
    assert parse_matcher(str(matcher), mode=ParseMode.UTF8) == matcher


def _quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta."""
    return "".join("\\" + ch if ch in "\\.+*?()|[]{}^$" else ch for ch in text)


@given(values, values)
def test_a_quoted_literal_matches_itself_only(literal: str, other: str) -> None:
    matcher = Matcher("x", RE, _quote_meta(literal))
    assert matcher.matches({"x": literal})
    assert matcher.matches({"x": other}) is (other == literal)
    assert Matcher("x", NRE, _quote_meta(literal)).matches({"x": other}) is (other != literal)


@given(names, types, values, st.dictionaries(names, values, max_size=3))
def test_negations_and_missing_labels(name: str, match_type: MatchType, value: str, labels: dict[str, str]) -> None:
    matcher = _matcher(name, match_type, value)
    opposite = {EQ: NE, NE: EQ, RE: NRE, NRE: RE}[match_type]
    assert Matcher(name, opposite, value).matches(labels) is not matcher.matches(labels)
    assert matcher.matches(labels) is matcher.matches_value(labels.get(name, ""))


# patterns where Go's syntax and Python's agree: the translation must not change what they match
_atoms = st.sampled_from(["a", "b", "c", ".", "[ab]", "[^a]", "(?:a|b)", "x?", "\\.", "[a-c]"])
_patterns = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map("|".join),
        inner.map(lambda p: f"({p})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "*?", "{1,2}", "{2}"])).map(lambda t: f"(?:{t[0]}){t[1]}"),
    ),
    max_leaves=8,
)


@given(_patterns, st.text(alphabet="abcx.\n", max_size=8))
def test_common_patterns_match_as_python_reads_them(pattern: str, value: str) -> None:
    assert Matcher("x", RE, pattern).matches_value(value) is (re.fullmatch(pattern, value) is not None)


# -- against a real Alertmanager (Debian's prometheus-alertmanager, 0.25: the classic parser) ----------------------
AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="needs amtool (Debian's prometheus-alertmanager)")


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, check=False, timeout=30)


def _yaml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


CLASSIC_TEXTS = (
    [text for text, _ in PARSE_OK if "🙂" not in text]
    + [text for text, _ in PARSE_ERRORS if "(?=" not in text and "invalid[" not in text]
    + [
        'a="\\tb"',
        "x=~a{,2}",
        'x=~"(?i)crit"',
        'x!~"\\\\d+"',
        "foo=bar\\",
        'foo=" spaced "',
        "  foo  =  bar  ",
        "foo:bar=baz",
        "_x=y",
        "9x=y",
        "x=\u00e9t\u00e9",
        'x=~"[[:alpha:]]"',
        'x=~"\\\\x{41}"',
    ]
)


@pytest.mark.alertmanager
@needs_amtool
@pytest.mark.parametrize("text", CLASSIC_TEXTS)
def test_the_classic_parser_agrees_with_alertmanager(text: str, tmp_path: Path) -> None:
    config = tmp_path / "am.yml"
    config.write_text(
        "route:\n  receiver: default\n  routes:\n"
        f"    - receiver: default\n      matchers: [{_yaml_string(text)}]\n"
        "receivers:\n  - name: default\n"
    )
    checked = _amtool("check-config", str(config))
    ours = _parse(text, ParseMode.CLASSIC)
    assert (checked.returncode == 0) is not isinstance(ours, Err), (checked.stdout, checked.stderr, ours)
    if isinstance(ours, Err):
        return
    shown = _amtool("config", "routes", f"--config.file={config}")
    if not ours:  # a route without matchers is shown without them
        return
    assert format_matchers(sort_matchers(ours)) in shown.stdout


REGEX_PATTERNS = [
    "(?i)crit",
    "a(?i)b|c",
    "\\d+",
    "\\w+",
    "\\s",
    "\\S+",
    "\\bfoo\\b.*",
    ".*\\bfoo",
    "a.b",
    "(?s)a.b",
    "a$\\n",
    "(?m)a$\\n",
    "^a",
    "(?m)^b",
    "[[:alpha:]]+",
    "[[:^digit:]]+",
    "[[:punct:]]",
    "x{,2}",
    "x{01}",
    "x{2}",
    "x{2,}",
    "\\Qa.b\\E",
    "\\x{e9}",
    "\\x41",
    "\\101",
    "\\0",
    "\\12",
    "(?U)a+b",
    "(?P<n>a)b",
    "[]a]+",
    "[^]a]",
    "[\\d-z]+",
    "[a-]+",
    "(?i)[a-c]+",
    "(?i)\\x{212a}",
    "(?i)k",
    "(?i)é",
    "a|",
    "|a",
    "()",
    "(?:)",
    "(?i-s:a.)",
    "a{1000}",
    "a*?b",
    "(?i)(?-i:a)B",
    "\\Aa\\z",
    "a\\.b",
    "\\$",
    "[\\]]",
    "[\\-a]",
    "\\t",
    "[[:space:]]+",
    "(?m)a$",
]
REGEX_VALUES = [
    "",
    "a",
    "A",
    "b",
    "c",
    "C",
    "aB",
    "Ab",
    "ab",
    "aab",
    "crit",
    "CRIT",
    "123",
    "١٢٣",
    "é",
    "É",
    "foo bar",
    "éfoo",
    "a\nb",
    "a\n",
    " ",
    "\t",
    "\v",
    "\u2003",
    "x{,2}",
    "xx",
    "xxx",
    "x{01}",
    "a.b",
    "axb",
    "A",
    "\x01",
    "\n",
    "]",
    "]a",
    "1-z",
    "a-",
    "k",
    "K",
    "\u212a",
    "$",
    "-",
    "a.",
    "a\n.",
]


def _label_arg(value: str) -> str:
    return 'x="' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@pytest.mark.alertmanager
@needs_amtool
def test_regular_expressions_match_as_in_go(tmp_path: Path) -> None:
    patterns = list(REGEX_PATTERNS)
    rng = random.Random(20260329)
    pieces = ["a", "b", ".", "\\d", "\\w", "[ab]", "[^a]", "(?i)", "x{2}", "x{,2}", "*", "+", "?", "|", "(", ")", "$"]
    for _ in range(60):
        candidate = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        try:
            Matcher("x", RE, candidate)
        except MatcherError:
            continue
        patterns.append(candidate)
    config = tmp_path / "am.yml"
    routes = "".join(
        f"    - receiver: r{i}\n      continue: true\n      matchers: [{_yaml_string(f'x=~{_yaml_inner(p)}')}]\n"
        for i, p in enumerate(patterns)
    )
    receivers = "".join(f"  - name: r{i}\n" for i in range(len(patterns)))
    config.write_text(f"route:\n  receiver: default\n  routes:\n{routes}receivers:\n  - name: default\n{receivers}")
    checked = _amtool("check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for value in REGEX_VALUES + ["".join(rng.choice("abx.\n") for _ in range(rng.randint(0, 4))) for _ in range(20)]:
        out = _amtool("config", "routes", "test", f"--config.file={config}", _label_arg(value)).stdout.strip()
        theirs = set() if out == "default" else {int(r[1:]) for r in out.split(",")}
        ours = {i for i, p in enumerate(patterns) if Matcher("x", RE, p).matches_value(value)}
        assert ours == theirs, {
            "value": value,
            "only ours": [patterns[i] for i in ours - theirs],
            "only Alertmanager": [patterns[i] for i in theirs - ours],
        }


def _yaml_inner(pattern: str) -> str:
    """The pattern as a double-quoted classic matcher value."""
    return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
