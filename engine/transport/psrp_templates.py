"""A CREATE_PIPELINE's XML written once per shape of pipeline, and filled with each host's strings.

pypsrp writes every CREATE_PIPELINE from scratch: about 470 objects for a Mailbox server's read (each
command carries MS-PSRP's eight Merge* enums), then xml.etree's pure-Python writer: a fifth of a plan's
controller CPU (issue 20). Across a run the pipelines differ only in their strings (the server's name,
a connector's identity): every Mailbox server reads with the same cmdlets, parameters and kinds of value.

So the first pipeline of each shape is written by pypsrp with a placeholder in each string parameter's
place; the XML it gives is kept, cut at the placeholders, and every pipeline of that shape is that XML
with each placeholder's element replaced by the element pypsrp writes for the real string (the
serializer's own escaping, then xml.etree's). Nothing else is written by hand: what is sent is, byte for
byte, what pypsrp would have sent (tests/unit/test_psrp_templates.py compares them). A whole number,
a boolean, None or a list of those and strings is part of the shape, as it is; a pipeline with a value of
any other kind (a SecureString, bytes, an object) is written by pypsrp as before.
"""

from __future__ import annotations

import re
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from pypsrp.complex_objects import ObjectMeta
from pypsrp.serializer import Serializer

MAX_SHAPES = 256  # shapes kept per run; a run has a few per kind of server (read, apply, verify)
_PLAIN = (bool, int, type(None))  # values written as they are, and part of the shape

Statements = list[tuple[str, list[tuple[str, Any]]]]


@dataclass(frozen=True)
class Shape:
    """A pipeline with its strings taken out: ``statements`` carry the placeholders, ``values`` the strings."""

    key: Hashable
    statements: Statements
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Template:
    parts: tuple[bytes, ...]  # the XML between the string parameters' elements; one more than ``order``
    order: tuple[int, ...]  # which string goes between each two parts


class PipelineTemplates:
    """The CREATE_PIPELINE templates of one run, shared by its hosts' runspace pools (threads)."""

    def __init__(self, max_shapes: int = MAX_SHAPES):
        self._nonce = secrets.token_hex(12)
        self._max = max_shapes
        self._templates: dict[Hashable, _Template | None] = {}  # None: this shape cannot be a template
        self._lock = threading.Lock()

    def shape(self, context: Hashable | None, statements: Statements) -> Shape | None:
        """The statements' shape, or None if a value is of a kind pypsrp may write in more than one way, or the
        shape is known not to make a template. ``context`` is what else the message is made of (the pool's
        protocol version, apartment state...); None: not templated."""
        if context is None:
            return None
        key: list[Hashable] = [context]
        placed: Statements = []
        values: list[str] = []
        for cmdlet, params in statements:
            if type(cmdlet) is not str:
                return None
            out: list[tuple[str, Any]] = []
            for name, value in params:
                if type(name) is not str:
                    return None
                if type(value) is str:
                    out.append((name, self._placeholder(len(values))))
                    key.append((cmdlet, name, str))
                    values.append(value)
                    continue
                plain = _plain(value)
                if plain is None:
                    return None
                out.append((name, value))
                key.append((cmdlet, name, plain))
            placed.append((cmdlet, out))
            key.append(None)  # the end of a statement
        frozen = tuple(key)
        if frozen in self._templates and self._templates[frozen] is None:
            return None
        return Shape(frozen, placed, tuple(values))

    def write(self, shape: Shape, serializer: Serializer, write_placeholders: Any) -> bytes:
        """The CREATE_PIPELINE's XML for ``shape``'s strings. ``write_placeholders()`` is pypsrp writing the
        message of the placeholder statements (as ``Message.pack`` does), called when the shape is new."""
        template = self._templates.get(shape.key, _MISSING)
        if template is _MISSING:
            template = self._cut(write_placeholders(), len(shape.values))
            with self._lock:
                if len(self._templates) < self._max:
                    self._templates[shape.key] = template
        if template is None:
            raise Untemplatable
        assert isinstance(template, _Template)
        elements = [_element(serializer, value) for value in shape.values]
        out = [template.parts[0]]
        for slot, part in zip(template.order, template.parts[1:]):
            out.append(elements[slot])
            out.append(part)
        return b"".join(out)

    def _placeholder(self, index: int) -> str:
        return f"exconf{self._nonce}slot{index}"

    def _cut(self, xml: bytes, slots: int) -> _Template | None:
        """The XML cut where a placeholder is a string parameter's whole value (pypsrp writes the first
        statement's commands twice: in ExtraCmds and in Cmds); None unless each slot is found there, and
        the placeholders nowhere else."""
        nonce = self._nonce.encode("ascii")
        pattern = re.compile(b'<S N="V">exconf' + nonce + b"slot([0-9]+)</S>")
        parts: list[bytes] = []
        order: list[int] = []
        start = 0
        for found in pattern.finditer(xml):
            parts.append(xml[start:found.start()])
            order.append(int(found.group(1)))
            start = found.end()
        parts.append(xml[start:])
        if sorted(set(order)) != list(range(slots)) or any(nonce in part for part in parts):
            return None  # a placeholder elsewhere than where a value is written: pypsrp writes each message
        return _Template(tuple(parts), tuple(order))


class Untemplatable(Exception):
    """This shape's XML did not have each placeholder where a value goes, and only there: pypsrp writes it."""


_MISSING: Any = object()


def _plain(value: Any) -> Hashable | None:
    """A value that pypsrp writes the same way each time, as part of the shape (its kind and itself:
    True and 1 are equal in Python but not in CLIXML); None for any other."""
    if type(value) in _PLAIN:
        return (type(value), value)
    if type(value) is list and all(type(v) in (*_PLAIN, str) for v in value):
        return (list, tuple((type(v), v) for v in value))
    return None


def _element(serializer: Serializer, value: str) -> bytes:
    """A string parameter's value as pypsrp writes it in a command's Args: ``<S N="V">…</S>``."""
    return xml_bytes(serializer.serialize(value, ObjectMeta("S", name="V")))


def xml_bytes(element: ET.Element | None) -> bytes:
    """An element as pypsrp's Message.pack writes a message's: ``ET.tostring(…, "utf-8", "xml")``."""
    if element is None:
        raise Untemplatable  # pypsrp writes nothing for an optional value: not a message
    return ET.tostring(element, encoding="utf-8", method="xml")
