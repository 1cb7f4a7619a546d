r"""Alertmanager's label matchers: ``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"``.

The text of a matcher is read as Alertmanager reads it (``matchers:`` entries of routes and inhibit rules, amtool
and API filters). Alertmanager has two parsers, and so does this module (``ParseMode``):

- the UTF-8 parser (``matchers/parse``): ``{`` and ``}`` optional, matchers separated by commas, a trailing comma
  allowed; a name or a value is either double-quoted, with Go's escapes (``\"``, ``\\``, ``\n``, ``\t``,
  ``\xf0``, ``\u00e9``, ...), or unquoted and then free of spaces and of ``{}!=~,\"'```;
- the classic parser (``pkg/labels``): names as in Prometheus (``[a-zA-Z_:][a-zA-Z0-9_:]*``), a value unquoted up
  to the next comma or double-quoted with only ``\"``, ``\\`` and ``\n`` as escapes (any other backslash is
  literal).

By default (``ParseMode.FALLBACK``, Alertmanager's default) both parse the text: the UTF-8 reading is taken unless
it fails or the classic parser reads the text differently (``foo="\t"`` is a tab to the first, a backslash and a
``t`` to the second), in which case the classic reading is taken and a warning is logged, as Alertmanager does.
When both fail the error is the UTF-8 parser's, which says more than the classic ``bad matcher format``.

A missing label matches as the empty string. Regular expressions are anchored at both ends (``foo=~"ba"`` does
not match ``bar``) and written in Go's syntax (RE2), which is translated to Python's ``re``, so that they mean
what they mean in Go: ``\d``, ``\w``, ``\s`` and ``\b`` are ASCII; ``$`` (outside ``(?m)``) is the end of the
text only; ``(?i)`` in the middle of a pattern applies to the rest of its group; ``(?U)``, ``(?P<name>)`` and
``(?<name>)``, ``\z``, ``\Q...\E``, ``\x{...}``, octal escapes and ``[[:alpha:]]`` classes are understood;
``x{,2}`` and ``x{01}`` are literal text as in Go; an assertion may be repeated (``^?``). The pattern is wrapped
as Alertmanager wraps it, ``^(?:pattern)$``, quirks included (``a)|(b`` is accepted and matches what starts with
``a`` or ends with ``b``). What RE2 does not have is refused, as Alertmanager refuses it: lookarounds,
backreferences, possessive quantifiers, atomic groups, conditionals, ``(?x)``, ``\Z``. What Python's ``re``
cannot do is refused too: the Unicode classes ``\pL``, ``\p{Greek}`` (Alertmanager accepts them).
"""

from __future__ import annotations

import enum
import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "MatchType",
    "Matcher",
    "MatcherError",
    "ParseMode",
    "compile_regex",
    "format_matchers",
    "from_legacy",
    "matches_all",
    "parse_matcher",
    "parse_matchers",
    "sort_matchers",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class MatcherError(ValueError):
    """A matcher that cannot be read; the message says what is wrong (``unknown operator "=~~"``)."""


class MatchType(enum.StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class ParseMode(enum.StrEnum):
    """Which of Alertmanager's parsers reads a matcher: its default, ``--enable-feature=utf8-strict-mode``, or
    ``--enable-feature=classic-mode``."""

    FALLBACK = "fallback"
    UTF8 = "utf8"
    CLASSIC = "classic"


_TYPE_ORDER = {MatchType.EQ: 0, MatchType.NE: 1, MatchType.RE: 2, MatchType.NRE: 3}

#: Go's unicode.IsSpace (the White_Space property)
_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
_RESERVED = _SPACE | frozenset("{}!=~,\\\"'`")


def _go_quote(text: str) -> str:
    """Go's strconv.Quote: a double-quoted string with Go escapes for what is not printable."""
    out = ['"']
    for ch in text:
        cp = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\ufffd")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_CONTROL:
            out.append(_GO_CONTROL[ch])
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


_GO_CONTROL = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_GO_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")


def _go_unquote(token: str) -> str:
    """Go's strconv.Unquote of a double-quoted token, and the result must be UTF-8 (as Alertmanager checks).
    ValueError says what is wrong."""
    body = token[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\n":
            msg = "a line break (write \\n)"
            raise ValueError(msg)
        if ch != "\\":
            try:
                out += ch.encode()
            except UnicodeEncodeError:
                msg = "invalid UTF-8"
                raise ValueError(msg) from None
            i += 1
            continue
        escape = body[i + 1 : i + 2]
        if escape in _GO_SIMPLE_ESCAPES:
            out.append(_GO_SIMPLE_ESCAPES[escape])
            i += 2
        elif escape in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[i + 2 : i + 2 + width]
            value = int(digits, 16) if len(digits) == width and set(digits) <= _HEX else -1
            if value < 0 or (escape != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF)):
                msg = f"invalid escape \\{escape}{digits}"
                raise ValueError(msg)
            if escape == "x":
                out.append(value)
            else:
                out += chr(value).encode()
            i += 2 + width
        elif escape in _OCTAL:
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= _OCTAL or int(digits, 8) > 255:
                msg = f"invalid escape \\{digits}"
                raise ValueError(msg)
            out.append(int(digits, 8))
            i += 4
        else:
            msg = f"invalid escape \\{escape}"
            raise ValueError(msg)
    try:
        return out.decode()
    except UnicodeDecodeError:
        msg = "invalid UTF-8"
        raise ValueError(msg) from None


def _openmetrics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# -- Go's regular expressions (RE2) in Python's re ---------------------------------------------------------------
class _RegexError(ValueError):
    pass


_MAX_RUNE = 0x10FFFF
_Ranges = tuple[tuple[int, int], ...]
_DIGIT: _Ranges = ((0x30, 0x39),)
_WORD: _Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_PERL_SPACE: _Ranges = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))
_PERL: dict[str, _Ranges] = {"d": _DIGIT, "w": _WORD, "s": _PERL_SPACE}
_POSIX: dict[str, _Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_WORD_CLASS = "(?-i:[0-9A-Za-z_])"
_WORD_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))"
_NOT_WORD_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))"
_REPEAT = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_CAPTURE_NAME = re.compile(r"[A-Za-z0-9_]+")
_MAX_REPEAT = 1000


def _complement(ranges: _Ranges) -> _Ranges:
    out: list[tuple[int, int]] = []
    low = 0
    for start, end in ranges:
        if start > low:
            out.append((low, start - 1))
        low = end + 1
    if low <= _MAX_RUNE:
        out.append((low, _MAX_RUNE))
    return tuple(out)


def _lit(cp: int) -> str:
    """One code point as a Python pattern that means only it, in or out of a class."""
    ch = chr(cp)
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _class_items(ranges: _Ranges) -> str:
    return "".join(_lit(a) if a == b else f"{_lit(a)}-{_lit(b)}" for a, b in ranges)


def _perl_class(letter: str) -> _Ranges:
    ranges = _PERL[letter.lower()]
    return _complement(ranges) if letter.isupper() else ranges


class _Scope:
    """A group of the pattern: the flags in force, and the scoped groups ``(?i)`` opened in it (closed with it,
    and around each ``|``)."""

    __slots__ = ("multiline", "pending", "ungreedy")

    def __init__(self, multiline: bool, ungreedy: bool) -> None:
        self.multiline = multiline
        self.ungreedy = ungreedy
        self.pending: list[str] = []


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.names: set[str] = set()

    def fail(self, message: str) -> _RegexError:
        return _RegexError(message)

    def translate(self) -> str:
        p, n = self.p, len(self.p)
        out: list[str] = []
        stack = [_Scope(multiline=False, ungreedy=False)]
        last_repeat = ""
        while self.i < n:
            start = self.i
            c = p[start]
            scope = stack[-1]
            repeat = _REPEAT.match(p, start) if c == "{" else None
            if repeat is not None and any(len(g) > 1 and g[0] == "0" for g in (repeat[1], repeat[3]) if g):
                repeat = None  # Go reads a number with a leading zero as no number: the brace is literal
            if c in "*+?" or repeat is not None:
                end = start + 1 if repeat is None else repeat.end()
                if repeat is not None:
                    low = int(repeat[1])
                    high = low if repeat[2] is None else (int(repeat[3]) if repeat[3] else -1)
                    if low > _MAX_REPEAT or high > _MAX_REPEAT or (high >= 0 and low > high):
                        raise self.fail(f"invalid repeat count {p[start:end]}")
                lazy = end < n and p[end] == "?"
                if last_repeat:
                    raise self.fail(f"invalid nested repetition operator {last_repeat}{p[start : end + lazy]}")
                out.append(p[start:end] + ("?" if lazy != scope.ungreedy else ""))
                self.i = end + lazy
                last_repeat = p[start : self.i]
                continue
            last_repeat = ""
            if c == "\\":
                out.append(self.escape_outside())
            elif c == "[":
                out.append(self.char_class())
            elif c == "(":
                out.append(self.group(stack))
            elif c == ")":
                if len(stack) == 1:
                    raise self.fail("unexpected )")
                closed = stack.pop()
                out.append(")" * len(closed.pending) + ")")
                self.i += 1
            elif c == "|":
                out.append(")" * len(scope.pending) + "|" + "".join(f"(?{f}:" for f in scope.pending))
                self.i += 1
            elif c == "$":
                out.append("(?:$)" if scope.multiline else r"(?:\Z)")
                self.i += 1
            elif c == "^":
                out.append("(?:^)")
                self.i += 1
            elif c == "{":
                out.append(r"\{")
                self.i += 1
            else:
                out.append(c)
                self.i += 1
        if len(stack) > 1:
            raise self.fail("missing )")
        out.append(")" * len(stack[0].pending))
        return "".join(out)

    def group(self, stack: list[_Scope]) -> str:
        p, start = self.p, self.i
        scope = stack[-1]
        if not p.startswith("(?", start):
            stack.append(_Scope(scope.multiline, scope.ungreedy))
            self.i += 1
            return "("
        if p.startswith(("(?P<", "(?<"), start) and not p.startswith(("(?<=", "(?<!"), start):
            name_start = start + (4 if p[start + 2] == "P" else 3)
            end = p.find(">", name_start)
            name = p[name_start:end] if end >= 0 else ""
            if not _CAPTURE_NAME.fullmatch(name):
                raise self.fail(f"invalid named capture {p[start : end + 1] if end >= 0 else p[start:]}")
            if name in self.names:
                raise self.fail(f"duplicate capture group name {name}")
            self.names.add(name)
            stack.append(_Scope(scope.multiline, scope.ungreedy))
            self.i = end + 1
            return "("
        # flags: (?flags) for the rest of the group, (?flags:re) for a group
        j = start + 2
        sign = 1
        saw_flag = False
        added: list[str] = []
        removed: list[str] = []
        while j < len(p):
            ch = p[j]
            if ch in "imsU":
                (added if sign > 0 else removed).append(ch)
                saw_flag = True
            elif ch == "-" and sign > 0:
                sign = -1
                saw_flag = False
            elif ch in ":)" and (sign > 0 or saw_flag):
                break
            else:
                raise self.fail(
                    f"unsupported group syntax {p[start : j + 1]} (RE2 has no lookarounds, backreferences, atomic "
                    "groups, comments or conditionals)"
                )
            j += 1
        else:
            raise self.fail("missing )")
        multiline = scope.multiline
        ungreedy = scope.ungreedy
        if "m" in added:
            multiline = True
        if "m" in removed:
            multiline = False
        if "U" in added:
            ungreedy = True
        if "U" in removed:
            ungreedy = False
        flags = "".join(f for f in added if f != "U")
        off = "".join(f for f in removed if f != "U")
        flags = flags + ("-" + off if off else "")
        self.i = j + 1
        if p[j] == ":":
            stack.append(_Scope(multiline, ungreedy))
            return f"(?{flags}:"
        scope.multiline = multiline
        scope.ungreedy = ungreedy
        if not flags:
            return ""
        scope.pending.append(flags)
        return f"(?{flags}:"

    def escape_outside(self) -> str:
        p, i = self.p, self.i
        letter = p[i + 1 : i + 2]
        if letter and letter in "dDsSwW":
            self.i += 2
            return f"[{_class_items(_perl_class(letter))}]"
        simple = {"b": _WORD_BOUNDARY, "B": _NOT_WORD_BOUNDARY, "A": r"(?:\A)", "z": r"(?:\Z)"}
        if letter and letter in simple:
            self.i += 2
            return simple[letter]
        if letter == "Q":
            end = p.find("\\E", i + 2)
            literal = p[i + 2 :] if end < 0 else p[i + 2 : end]
            self.i = len(p) if end < 0 else end + 2
            return "".join(_lit(ord(ch)) for ch in literal)
        return _lit(self.escape_char())

    def escape_char(self) -> int:
        """The code point of the escape at ``self.i`` (a literal character), as Go's parseEscape reads it."""
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression")
        c = p[i + 1]
        if c in "pP":
            raise self.fail(f"Unicode character classes (\\{c}) are not supported here")
        if c in "1234567" and p[i + 2 : i + 3] not in _OCTAL:
            raise self.fail(f"invalid escape sequence \\{c} (RE2 has no backreferences)")
        if c in _OCTAL:
            j = i + 2
            value = int(c)
            while j < i + 4 and j < len(p) and p[j] in _OCTAL:
                value = value * 8 + int(p[j])
                j += 1
            self.i = j
            return value
        if c == "x":
            if p[i + 2 : i + 3] == "{":
                end = p.find("}", i + 3)
                digits = p[i + 3 : end] if end >= 0 else ""
                if not digits or not set(digits) <= _HEX or int(digits, 16) > _MAX_RUNE:
                    raise self.fail(f"invalid escape sequence {p[i : end + 1] if end >= 0 else p[i:]}")
                self.i = end + 1
                return int(digits, 16)
            digits = p[i + 2 : i + 4]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise self.fail(f"invalid escape sequence \\x{digits}")
            self.i = i + 4
            return int(digits, 16)
        if c in "afnrtv":
            self.i = i + 2
            return {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}[c]
        if c.isascii() and not c.isalnum():
            self.i = i + 2
            return ord(c)
        raise self.fail(f"invalid escape sequence \\{c}")

    def char_class(self) -> str:
        p, n = self.p, len(self.p)
        j = self.i + 1
        negate = p[j : j + 1] == "^"
        j += negate
        items: list[str] = []
        first = True
        while True:
            if j >= n:
                raise self.fail(f"missing closing ]: {p[self.i :]}")
            if p[j] == "]" and not first:
                j += 1
                break
            first = False
            if p.startswith("[:", j) and (end := p.find(":]", j + 2)) >= 0:
                name = p[j + 2 : end]
                ranges = _POSIX.get(name.removeprefix("^"))
                if ranges is None:
                    raise self.fail(f"invalid character class range [:{name}:]")
                items.append(_class_items(_complement(ranges) if name.startswith("^") else ranges))
                j = end + 2
                continue
            if p[j] == "\\" and p[j + 1 : j + 2] and p[j + 1] in "dDsSwW":
                items.append(_class_items(_perl_class(p[j + 1])))
                j += 2
                continue
            low, j = self.class_char(j)
            high = low
            if j + 1 < n and p[j] == "-" and p[j + 1] != "]":
                high, j = self.class_char(j + 1)
                if high < low:
                    raise self.fail(f"invalid character class range {chr(low)}-{chr(high)}")
            items.append(_lit(low) if low == high else f"{_lit(low)}-{_lit(high)}")
        self.i = j
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def class_char(self, j: int) -> tuple[int, int]:
        if self.p[j] != "\\":
            return ord(self.p[j]), j + 1
        saved, self.i = self.i, j
        try:
            return self.escape_char(), self.i
        finally:
            self.i = saved


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Go's regular expression ``pattern`` (RE2 syntax) compiled as Alertmanager compiles it, ``^(?:pattern)$``,
    to ``search`` a value with (Go's MatchString). The wrapping is Alertmanager's to the letter, quirks included:
    ``a)|(b`` is a valid pattern there, matching what starts with ``a`` or ends with ``b``, and an unterminated
    ``\\Q`` quotes the closing ``)$`` and is refused. Raises MatcherError."""
    try:
        return re.compile(_Translator("^(?:" + pattern + ")$").translate())
    except (_RegexError, re.error) as exc:
        reason = exc.msg if isinstance(exc, re.error) else str(exc)
        msg = f"invalid regular expression {_go_quote(pattern)}: {reason}"
        raise MatcherError(msg) from None


# -- the matcher --------------------------------------------------------------------------------------------------
class Matcher:
    """``name``, ``type`` and ``value`` of one matcher; immutable, hashable, equal by those three."""

    __slots__ = ("_regex", "name", "type", "value")
    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None

    def __init__(self, name: str, type: MatchType | str, value: str) -> None:
        try:
            match_type = MatchType(type)
        except ValueError:
            msg = f"unknown operator {_go_quote(str(type))}"
            raise MatcherError(msg) from None
        regex = compile_regex(value) if match_type in (MatchType.RE, MatchType.NRE) else None
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", match_type)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_regex", regex)

    def __setattr__(self, key: str, value: object) -> None:
        msg = "Matcher is immutable"
        raise AttributeError(msg)

    def __delattr__(self, key: str) -> None:
        msg = "Matcher is immutable"
        raise AttributeError(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Matcher, (self.name, self.type.value, self.value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Matcher):
            return NotImplemented
        return (self.name, self.type, self.value) == (other.name, other.type, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.value))

    def __repr__(self) -> str:
        return f"Matcher({self.name!r}, {self.type.value!r}, {self.value!r})"

    def __str__(self) -> str:
        """Alertmanager's form: ``name="value"``; a name with spaces or ``{}!=~,\\"'``` and its value quoted
        as Go quotes strings (``"service name"="api"``)."""
        if any(ch in _RESERVED for ch in self.name):
            return f"{_go_quote(self.name)}{self.type.value}{_go_quote(self.value)}"
        return f'{self.name}{self.type.value}"{_openmetrics_escape(self.value)}"'

    def matches_value(self, value: str) -> bool:
        """Whether the matcher matches this value of its label (the empty string for a missing label)."""
        if self.type is MatchType.EQ:
            return value == self.value
        if self.type is MatchType.NE:
            return value != self.value
        found = self._regex is not None and self._regex.search(value) is not None
        return found if self.type is MatchType.RE else not found

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels match; a missing label is the empty string, as in Alertmanager."""
        return self.matches_value(labels.get(self.name, ""))


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches the labels (True for no matchers)."""
    return all(m.matches(labels) for m in matchers)


def sort_matchers(matchers: Iterable[Matcher]) -> list[Matcher]:
    """In Alertmanager's order (by name, then value, then type =, !=, =~, !~), as it sorts a route's matchers."""
    return sorted(matchers, key=lambda m: (m.name, m.value, _TYPE_ORDER[m.type]))


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="1",b=~"x.*"}``, as Alertmanager prints a list of matchers."""
    return "{" + ",".join(map(str, matchers)) + "}"


# -- the UTF-8 parser (matchers/parse) ----------------------------------------------------------------------------
class _Token(NamedTuple):
    #: "{", "}", ",", "op", "quoted", "unquoted", "eof", or "error" (what the lexer cannot read)
    kind: str
    text: str
    start: int


_OPERATOR_RUN = re.compile(r"[=!~]+")
_OPERATORS = frozenset(t.value for t in MatchType)


def _lex(text: str) -> list[_Token]:
    """The tokens of ``text``, ending with an "eof" token or an "error" token where the input cannot be read."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            tokens.append(_Token("eof", "", n))
            return tokens
        c = text[i]
        if c in "{},":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c == "=":
            size = 2 if text[i + 1 : i + 2] == "~" else 1
            tokens.append(_Token("op", text[i : i + size], i))
            i += size
        elif c == "!":
            if text[i + 1 : i + 2] not in ("=", "~"):
                tokens.append(_Token("error", text[i : i + 2], i))
                return tokens
            tokens.append(_Token("op", text[i : i + 2], i))
            i += 2
        elif c == '"':
            j = i + 1
            escaped = False
            while j < n:
                if escaped:
                    escaped = False
                elif text[j] == "\\":
                    escaped = True
                elif text[j] == '"':
                    break
                j += 1
            if j >= n:
                tokens.append(_Token("error", text[i:], i))
                return tokens
            tokens.append(_Token("quoted", text[i : j + 1], i))
            i = j + 1
        elif c not in _RESERVED:
            j = i
            while j < n and text[j] not in _RESERVED:
                j += 1
            tokens.append(_Token("unquoted", text[i:j], i))
            i = j
        else:
            tokens.append(_Token("error", c, i))
            return tokens


def _found(token: _Token) -> str:
    return "the end of the input" if token.kind == "eof" else f"{_go_quote(token.text)} at column {token.start + 1}"


class _Utf8Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind != "error":
            return token
        column = token.start + 1
        if token.text.startswith('"'):
            msg = f"unterminated quoted string (opened at column {column})"
        elif token.text.startswith("!"):
            msg = f"unknown operator {_go_quote(token.text[:1])} at column {column}"
        elif token.text in ("'", "`"):
            msg = f"unexpected {_go_quote(token.text)} at column {column} (quote names and values with double quotes)"
        else:
            msg = f"unexpected {_go_quote(token.text)} at column {column}"
        raise MatcherError(msg)

    def unquote(self, token: _Token) -> str:
        if token.kind == "unquoted":
            return token.text
        try:
            return _go_unquote(token.text)
        except ValueError as exc:
            msg = f"{exc} in the quoted string at column {token.start + 1}"
            raise MatcherError(msg) from None

    def parse(self) -> list[Matcher]:
        matchers: list[Matcher] = []
        token = self.peek()
        if token.kind == "eof":
            return matchers
        braced = token.kind == "{"
        if braced:
            self.pos += 1
            token = self.peek()
        if token.kind not in ("eof", "}"):
            while True:
                matchers.append(self.matcher())
                token = self.peek()
                if token.kind in ("eof", "}"):
                    break
                if token.kind != ",":
                    msg = f'expected "," or "}}" after {matchers[-1]}, found {_found(token)}'
                    raise MatcherError(msg)
                self.pos += 1
                token = self.peek()
                if token.kind in ("eof", "}"):
                    break
                if token.kind not in ("quoted", "unquoted"):
                    msg = f'expected a matcher or "}}" after ",", found {_found(token)}'
                    raise MatcherError(msg)
        if braced:
            if token.kind != "}":
                msg = 'missing closing "}"'
                raise MatcherError(msg)
            self.pos += 1
        elif token.kind == "}":
            msg = f'"}}" at column {token.start + 1} has no opening "{{"'
            raise MatcherError(msg)
        token = self.peek()
        if token.kind != "eof":
            msg = f'unexpected {_found(token)} after the closing "}}"'
            raise MatcherError(msg)
        return matchers

    def matcher(self) -> Matcher:
        name_token = self.peek()
        if name_token.kind not in ("quoted", "unquoted"):
            msg = f"expected a label name, found {_found(name_token)}"
            raise MatcherError(msg)
        self.pos += 1
        name = self.unquote(name_token)
        operator_at = self.tokens[self.pos].start
        try:
            operator, value_token = self.operator_and_value(name_token)
        except MatcherError:
            run = _OPERATOR_RUN.match(self.text, operator_at)
            if run is not None and run[0] not in _OPERATORS:
                msg = f"unknown operator {_go_quote(run[0])}"
                raise MatcherError(msg) from None
            raise
        return Matcher(name, operator.text, self.unquote(value_token))

    def operator_and_value(self, name_token: _Token) -> tuple[_Token, _Token]:
        operator = self.peek()
        if operator.kind != "op":
            after = _go_quote(name_token.text)
            msg = f"expected an operator (=, !=, =~, !~) after {after}, found {_found(operator)}"
            raise MatcherError(msg)
        self.pos += 1
        value_token = self.peek()
        if value_token.kind not in ("quoted", "unquoted"):
            after = _go_quote(name_token.text + operator.text)
            msg = f"expected a value after {after}, found {_found(value_token)}"
            raise MatcherError(msg)
        self.pos += 1
        return operator, value_token


# -- the classic parser (pkg/labels) ------------------------------------------------------------------------------
#: Go's \s is [\t\n\f\r ]
_GO_S = "[\t\n\f\r ]*"
_CLASSIC = re.compile(f"{_GO_S}([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_S}(=~|=|!=|!~){_GO_S}(.*?){_GO_S}", re.S)


def _classic_matcher(text: str) -> Matcher:
    found = _CLASSIC.fullmatch(text)
    if found is None:
        msg = f"bad matcher format {_go_quote(text)}: expected a label name, an operator (=, !=, =~, !~) and a value"
        raise MatcherError(msg)
    name, operator, raw = found.groups()
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    value: list[str] = []
    escaped = False
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            value.append("\n" if ch == "n" else ch if ch in '"\\' else "\\" + ch)
        elif ch == "\\":
            if i < len(body) - 1:
                escaped = True
            else:
                value.append(ch)
        elif ch == '"':
            if not quoted or i < len(body) - 1:
                msg = f"unescaped double quote in the value {_go_quote(raw)}"
                raise MatcherError(msg)
            quoted = False
        else:
            value.append(ch)
    if quoted:
        msg = f"unescaped double quote in the value {_go_quote(raw)}"
        raise MatcherError(msg)
    return Matcher(name, operator, "".join(value))


def _classic_matchers(text: str) -> list[Matcher]:
    text = text.removeprefix("{").removesuffix("}")
    parts: list[str] = []
    part: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if ch == ",":
            if not quoted:
                parts.append("".join(part))
                part = []
                continue
        elif ch == '"':
            if not escaped:
                quoted = not quoted
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        part.append(ch)
    last = "".join(part).strip("".join(_SPACE))
    if last:
        parts.append(last)
    return [_classic_matcher(p) for p in parts]


# -- the entry points ---------------------------------------------------------------------------------------------
def _warn_fallback(text: str, error: MatcherError | None, classic: object) -> None:
    suggestion = ",".join(map(str, classic)) if isinstance(classic, list) else str(classic)
    if error is not None:
        log.warning(
            "matchers %s are not valid in Alertmanager's UTF-8 syntax (%s); read by the classic parser as %s",
            _go_quote(text), error, suggestion,
        )  # fmt: skip
    else:
        log.warning(
            "matchers %s are read differently by Alertmanager's UTF-8 and classic parsers; the classic reading "
            "is used: %s",
            _go_quote(text), suggestion,
        )  # fmt: skip


def _both(text: str, utf8: Callable[[str], _T], classic: Callable[[str], _T]) -> _T:
    """Alertmanager's fallback: the UTF-8 reading unless it fails or disagrees with the classic one."""
    try:
        new = utf8(text)
    except MatcherError as exc:
        try:
            old = classic(text)
        except MatcherError:
            raise exc from None
        _warn_fallback(text, exc, old)
        return old
    try:
        old = classic(text)
    except MatcherError:
        return new
    if old != new:
        _warn_fallback(text, None, old)
        return old
    return new


def parse_matchers(text: str, *, mode: ParseMode = ParseMode.FALLBACK) -> list[Matcher]:
    """The matchers of ``text`` (``{foo="bar", baz=~"x.*"}``, ``foo=bar,baz!=qux``, ``""`` for none), as
    Alertmanager reads a ``matchers:`` entry of a route or an inhibit rule. Raises MatcherError."""
    if mode is ParseMode.UTF8:
        return _Utf8Parser(text).parse()
    if mode is ParseMode.CLASSIC:
        return _classic_matchers(text)
    return _both(text, lambda t: _Utf8Parser(t).parse(), _classic_matchers)


def _one(text: str) -> Matcher:
    matchers = _Utf8Parser(text).parse()
    if len(matchers) != 1:
        msg = f"expected one matcher, found {len(matchers) or 'none'}"
        raise MatcherError(msg)
    return matchers[0]


def parse_matcher(text: str, *, mode: ParseMode = ParseMode.FALLBACK) -> Matcher:
    """The one matcher of ``text`` (``foo="bar"``, ``foo!~a|b``), as Alertmanager reads an API or amtool filter:
    no braces. Raises MatcherError."""
    if mode is ParseMode.CLASSIC:
        return _classic_matcher(text)
    if text.startswith("{") or text.endswith("}"):
        msg = 'a single matcher takes no braces: remove "{" and "}"'
        raise MatcherError(msg)
    if mode is ParseMode.UTF8:
        return _one(text)
    return _both(text, _one, _classic_matcher)


def _label_path(key: str | None, name: str) -> str:
    if key is None:
        return f"label {_go_quote(name)}"
    return f"{key}.{name}" if re.fullmatch(r"[A-Za-z_]\w*", name, re.ASCII) else f"{key}[{_go_quote(name)}]"


def from_legacy(
    match: Mapping[str, str] | None,
    match_re: Mapping[str, str] | None,
    *,
    match_key: str | None = None,
    match_re_key: str | None = None,
) -> list[Matcher]:
    """The matchers of Alertmanager's deprecated ``match`` (equality) and ``match_re`` (anchored regular
    expressions) maps, also ``source_match``/``source_match_re`` and ``target_match``/``target_match_re`` of
    inhibit rules: the ``match`` ones first, each in the map's order. Raises MatcherError; the message names the
    label (``label "severity": ...``), or its path when ``match_key``/``match_re_key`` are given
    (``source_match_re.severity: ...``)."""
    out: list[Matcher] = []
    for key, entries, match_type in ((match_key, match, MatchType.EQ), (match_re_key, match_re, MatchType.RE)):
        for name, value in (entries or {}).items():
            if not name:
                msg = f"{key + ': ' if key else ''}a label name must not be empty"
                raise MatcherError(msg)
            try:
                out.append(Matcher(name, match_type, value))
            except MatcherError as exc:
                msg = f"{_label_path(key, name)}: {exc}"
                raise MatcherError(msg) from None
    return out
