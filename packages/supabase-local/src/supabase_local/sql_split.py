"""Split a migration file into statements exactly as the Supabase CLI does (``pkg/parser`` of supabase/cli).

The CLI records each applied file as the list of statements its tokenizer cut it into
(``supabase_migrations.schema_migrations.statements``); provisioning records the same list, so ``supabase
migration list`` and ``db push`` see the same history whichever tool applied a file. The state machine below
follows the CLI's one by one, including its quirks: the input is walked byte by byte (a multi-byte character is
seen once whole and then as one replacement character per continuation byte), a dollar-quote closes at the first
later occurrence of its tag, ``(`` and ``BEGIN ATOMIC`` hold separators until their closer, and a statement keeps
its comments and loses only trailing ``;`` and surrounding white space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_REPLACEMENT = "\ufffd"
# Go's unicode.IsSpace for the Latin-1 range, plus the Unicode space separators strings.TrimSpace also trims.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


class _State:
    def next(self, char: str, data: bytes) -> _State | None:  # None: emit the statement
        raise NotImplementedError


def _is_identifier(char: str) -> bool:
    return char.isalpha() or char.isdigit() or char in "_$"


def _ends_begin_atomic(data: bytes) -> bool:
    """True when ``data`` ends with the words BEGIN ATOMIC (any case, any white space between)."""
    if len(data) < 6 or data[-6:].upper() != b"ATOMIC":
        return False
    before = data[:-6]
    if before and _is_identifier(_last_char(before)):
        return False
    prefix = before.rstrip(b"\t\n\v\f\r ")
    if len(prefix) < 5 or prefix[-5:].upper() != b"BEGIN":
        return False
    return len(prefix) == 5 or not _is_identifier(_last_char(prefix[:-5]))


def _last_char(data: bytes) -> str:
    for start in range(len(data) - 1, max(len(data) - 5, -1), -1):
        try:
            return data[start:].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return _REPLACEMENT


class _Ready(_State):
    def next(self, char: str, data: bytes) -> _State | None:
        if char == "$":
            return _Tag(len(data) - 1)
        if char in "'\"":
            return _Quote(char)
        if char == "-":
            return _Comment()
        if char == "/":
            return _Block()
        if char == "\\":
            return _Escape()
        if char == ";":
            return None
        if char == "(":
            return _Atomic(self, b")")
        if char in "cC" and _ends_begin_atomic(data):
            return _Atomic(self, b"END")
        return self


class _Comment(_State):
    def next(self, char: str, data: bytes) -> _State | None:
        if char == "-":
            return _Dollar(b"\n")
        return _Ready().next(char, data)


@dataclass
class _Block(_State):
    depth: int = 0

    def next(self, char: str, data: bytes) -> _State | None:
        window = data[-2:]
        if window == b"/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(char, data)
        if window == b"*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


@dataclass
class _Quote(_State):
    delimiter: str
    escape: bool = False

    def next(self, char: str, data: bytes) -> _State | None:
        if self.escape:
            if char == self.delimiter:
                self.escape = False
                return self
            return _Ready().next(char, data)
        if char == self.delimiter:
            self.escape = True
        return self


@dataclass
class _Dollar(_State):
    delimiter: bytes

    def next(self, char: str, data: bytes) -> _State | None:
        if data[len(data) - len(self.delimiter):] == self.delimiter:
            return _Ready()
        return self


@dataclass
class _Tag(_State):
    offset: int

    def next(self, char: str, data: bytes) -> _State | None:
        if char == "$":
            return _Dollar(bytes(data[self.offset:]))
        if char.isalpha() or char.isdigit() or char == "_":
            return self
        return _Ready().next(char, data)


class _Escape(_State):
    def next(self, char: str, data: bytes) -> _State | None:
        return _Ready()


@dataclass
class _Atomic(_State):
    prev: _State
    delimiter: bytes = field(default=b")")

    def next(self, char: str, data: bytes) -> _State | None:
        current = self.prev.next(char, data)
        if current is not None:
            self.prev = current
        if isinstance(self.prev, _Ready):
            window = data[len(data) - len(self.delimiter):]
            if window.upper() == self.delimiter.upper():
                return _Ready()
        return self


def _char_at(data: bytes, index: int) -> tuple[str, int]:
    """The character starting at ``index`` and its width, as Go's utf8.DecodeRune sees it."""
    lead = data[index]
    width = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 \
        if lead >> 3 == 0b11110 else 1
    try:
        return data[index:index + width].decode("utf-8"), width
    except UnicodeDecodeError:
        return _REPLACEMENT, 1


def split_raw(text: str) -> list[str]:
    """The tokens of ``text`` as the CLI's ``parser.Split`` returns them: each with its ``;`` and white space."""
    data = text.encode("utf-8")
    tokens: list[bytes] = []
    start, index, state = 0, 0, _Ready()
    while start + index < len(data):
        char, width = _char_at(data, start + index)
        end = index + width
        following = state.next(char, data[start:start + end])
        if following is None:
            tokens.append(data[start:start + end])
            start, index, state = start + end, 0, _Ready()
            continue
        state = following
        index += 1
    if start < len(data):
        tokens.append(data[start:])
    return [token.decode("utf-8", errors="replace") for token in tokens]


def split(text: str) -> list[str]:
    """The statements of ``text`` as the CLI's ``parser.SplitAndTrim`` returns them (empty ones dropped)."""
    statements = (token.rstrip(";").strip(_GO_SPACE) for token in split_raw(text))
    return [statement for statement in statements if statement]
