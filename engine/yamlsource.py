"""YAML loading that remembers where every key and value came from.

Validation errors must name the file, line and column; PyYAML's composed
node tree has that, so values are built from nodes and every path gets a
location. Duplicate keys (silently "last wins" in PyYAML) are errors, and a
plain scalar such as ``12:00:00`` that YAML 1.1 reads as a base-60 number is
remembered so that the error can say "put it in quotes".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[Any, ...]

_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")


@dataclass(frozen=True)
class Location:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ScalarSource:
    """How a scalar was written, for error messages about YAML's surprises."""

    text: str
    plain: bool  # not quoted

    @property
    def sexagesimal(self) -> bool:
        return self.plain and bool(_SEXAGESIMAL.match(self.text))


class SourceError(Exception):
    """A file that cannot be read as YAML; str() names file, line and column."""


@dataclass
class Document:
    """A loaded YAML document with a location for every path inside it."""

    data: Any
    file: str
    locations: dict[PathKey, Location]
    key_locations: dict[PathKey, Location]
    scalars: dict[PathKey, ScalarSource]

    def where(self, path: PathKey) -> Location:
        """The closest known location of a path (falls back to its parents)."""
        p = tuple(path)
        while p:
            if p in self.locations:
                return self.locations[p]
            p = p[:-1]
        return self.locations.get((), Location(self.file, 1, 1))

    def where_key(self, path: PathKey) -> Location:
        """Where the key of a mapping entry is written (for unknown-key errors)."""
        return self.key_locations.get(tuple(path)) or self.where(path)


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_text(text: str, file: str) -> Document:
    """Parse one YAML document from text; ``file`` is the name used in locations."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise SourceError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{file}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    doc = Document(data=None, file=file, locations={}, key_locations={}, scalars={})
    if root is None:
        doc.locations[()] = Location(file, 1, 1)
        return doc
    constructor = yaml.SafeLoader("")
    doc.data = _build(root, (), doc, constructor)
    return doc


def load_file(path: Path, display: str | None = None) -> Document:
    """Read and parse a YAML (or JSON, a subset of it) file."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{name}: cannot read: {exc}") from None
    return load_text(text, name)


def _build(node: yaml.Node, path: PathKey, doc: Document, constructor: yaml.SafeLoader) -> Any:
    doc.locations[path] = _loc(doc.file, node)
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise SourceError(f"{_loc(doc.file, key_node)}: a mapping key must be a plain value")
            if key in result:
                raise SourceError(f"{_loc(doc.file, key_node)}: duplicate key {key!r}")
            doc.key_locations[path + (key,)] = _loc(doc.file, key_node)
            result[key] = _build(value_node, path + (key,), doc, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc, constructor) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    doc.scalars[path] = ScalarSource(text=node.value, plain=node.style is None)
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise SourceError(f"{_loc(doc.file, node)}: {exc.problem}") from None
