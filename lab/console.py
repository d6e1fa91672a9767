"""Reading an administrator's console command for ``exconf lab exec SERVER -- CMDLET …``.

The words arrive already split by the user's shell (its quotes removed). Each word
is then read the way PowerShell reads an argument: ``$true``, ``$false`` and
``$null``; numbers, including PowerShell's ``10MB``-style multipliers; ``a,b`` as
a list; 'single' and "double" quotes with backtick escapes. ``-Name value``,
``-Name:value`` and bare ``-Switch`` name the parameters; a word that names no
parameter binds by position. The lab does not evaluate expressions: variables,
``$(…)``, ``@(…)``, ``@{…}`` and script blocks are refused.
"""

from __future__ import annotations

import re
from typing import Any

from .exchange import errors
from .exchange.binder import assign_positional
from .exchange.cmdlets import CMDLETS
from .exchange.store import ConsoleError


class ConsoleSyntaxError(ConsoleError):
    """The words cannot be read as a command (``str(e)`` says why, as PowerShell would)."""


_PARAMETER = re.compile(r"^-([A-Za-z_?][\w-]*)(?::(.*))?$", re.DOTALL)
_MULTIPLIERS = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_NUMBER = re.compile(r"^(?P<n>[+-]?(?:0x[0-9a-f]+|\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(?P<mult>kb|mb|gb|tb|pb)?$", re.I)
# PowerShell's quote characters (PowerShell Language Specification 3.0, §2.3.5.2 "String literals":
# single-quote-character is ' U+2018 U+2019 U+201A U+201B; double-quote-character is " U+201C U+201D
# U+201E). Any of a class opens or closes a string of that class, and a doubled one stands for one
# (about_Quoting_Rules), so text pasted from a document with typographic quotes reads as PowerShell reads it.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def parse_command(words: list[str]) -> tuple[str, dict[str, Any]]:
    """(cmdlet, {parameter: value}) for LabStore.exec_console; ConsoleSyntaxError if it cannot be read."""
    if not words or not words[0].strip():
        raise ConsoleSyntaxError("exconf lab exec: expected a cmdlet after '--', such as Get-SendConnector")
    cmdlet, rest = words[0].strip(), words[1:]
    known = CMDLETS.get(cmdlet.lower())
    params: dict[str, Any] = {}
    positional: list[Any] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        match = _PARAMETER.match(word)
        i += 1
        if not match:
            positional.append(parse_value(word))
            continue
        name, attached = match.group(1), match.group(2)
        if name.lower() in (k.lower() for k in params):
            raise ConsoleSyntaxError(errors.parameter_already_bound(cmdlet, name).console_text())
        if attached is not None:
            params[name] = parse_value(attached)
            continue
        switch = known.signature.is_switch(name) if known else None
        takes_value = switch is False or (switch is None and i < len(rest) and not _PARAMETER.match(rest[i]))
        if not takes_value:
            params[name] = True
        elif i < len(rest) and not _PARAMETER.match(rest[i]):
            params[name] = parse_value(rest[i])
            i += 1
        else:
            param = known.signature.resolve(name) if known else None
            dotnet = param.type.dotnet if param else "System.Object"
            raise ConsoleSyntaxError(errors.missing_argument(cmdlet, param.name if param else name, dotnet).console_text())
    if positional:
        _bind_positional(cmdlet, known, params, positional)
    return cmdlet, params


def _bind_positional(cmdlet: str, known: Any, params: dict[str, Any], values: list[Any]) -> None:
    """Name the positional words as the binder would (Identity is position 1 of every cmdlet here)."""
    if known is None:
        raise ConsoleSyntaxError(errors.command_not_found(cmdlet).console_text())
    try:
        named = {known.signature.resolve(name).name for name in params}
        for param, value in assign_positional(known.signature, named, values):
            params[param.name] = value
    except errors.CmdletError as exc:
        raise ConsoleSyntaxError(exc.console_text()) from None


def parse_value(text: str) -> Any:
    """One argument: a scalar, or a list for "a,b" (commas outside quotes)."""
    items = [_scalar(part) for part in _split_commas(text)]
    return items[0] if len(items) == 1 else items


def _split_commas(text: str) -> list[str]:
    parts, current, quote, i = [], "", None, 0
    while i < len(text):
        c = text[i]
        if c == "`" and quote is not SINGLE_QUOTES and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if quote:
            if c in quote:
                if i + 1 < len(text) and text[i + 1] in quote:  # '' or "" inside quotes
                    current += text[i:i + 2]
                    i += 2
                    continue
                quote = None
        elif c in SINGLE_QUOTES:
            quote = SINGLE_QUOTES
        elif c in DOUBLE_QUOTES:
            quote = DOUBLE_QUOTES
        elif c == ",":
            parts.append(current)
            current = ""
            i += 1
            continue
        current += c
        i += 1
    if quote:
        raise ConsoleSyntaxError(f"The string is missing the terminator: {quote[0]}.\n    + CategoryInfo          : ParserError: (:) [], "
                           "ParentContainsErrorRecordException\n    + FullyQualifiedErrorId : TerminatorExpectedAtEndOfString")
    parts.append(current)
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise ConsoleSyntaxError("Missing argument in parameter list.\n    + CategoryInfo          : ParserError: (:) [], "
                           "ParentContainsErrorRecordException\n    + FullyQualifiedErrorId : MissingArgument")
    return parts


def _refuse(text: str) -> ConsoleSyntaxError:
    return ConsoleSyntaxError(
        f"exconf lab exec: '{text}' needs PowerShell to evaluate it (a variable, a subexpression, an array or hash "
        "literal, or a script block); the lab console takes only literal values: words, 'single' or \"double\" "
        "quoted strings, numbers, $true, $false, $null and comma lists."
    )


def _scalar(text: str) -> Any:
    word = text.strip()
    lowered = word.lower()
    if lowered in ("$true", "$false", "$null"):
        return {"$true": True, "$false": False, "$null": None}[lowered]
    if len(word) >= 2 and word[0] in SINGLE_QUOTES and word[-1] in SINGLE_QUOTES:
        return _SINGLE_PAIR.sub(r"\1", word[1:-1])
    if len(word) >= 2 and word[0] in DOUBLE_QUOTES and word[-1] in DOUBLE_QUOTES:
        inner = word[1:-1]
        if re.search(r"(?<!`)\$(?:[A-Za-z_{(?:]|$)", inner):
            raise _refuse(word)
        return _unescape(_DOUBLE_PAIR.sub(r"\1", inner))
    if word.startswith(("$", "@(", "@{", "{", "(")) or re.search(r"(?<!`)\$[A-Za-z_{(]", word):
        raise _refuse(word)
    number = _NUMBER.match(word)
    if number:
        return _number(number.group("n"), number.group("mult"))
    return _unescape(word)


_SINGLE_PAIR = re.compile(f"([{SINGLE_QUOTES}])[{SINGLE_QUOTES}]")
_DOUBLE_PAIR = re.compile(f"([{DOUBLE_QUOTES}])[{DOUBLE_QUOTES}]")


def _number(digits: str, multiplier: str | None) -> int | float:
    if digits.lower().lstrip("+-").startswith("0x"):
        value: int | float = int(digits, 16)
    elif re.fullmatch(r"[+-]?\d+", digits):
        value = int(digits)
    else:
        value = float(digits)
    if multiplier:
        value = value * _MULTIPLIERS[multiplier.lower()]
        value = int(value) if float(value).is_integer() else value
    return value


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "`" and i + 1 < len(text):
            out += _ESCAPES.get(text[i + 1], text[i + 1])
            i += 2
        else:
            out += text[i]
            i += 1
    return out
