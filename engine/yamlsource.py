"""YAML loading that remembers where every key and value came from.

Validation errors must name the file, line and column; PyYAML's composed
node tree has that, so values are built from nodes and every path gets a
location. Duplicate keys (silently "last wins" in PyYAML) are errors, and a
plain scalar such as ``12:00:00`` that YAML 1.1 reads as a base-60 number is
remembered so that the error can say "put it in quotes".

An inventory is input that may come from anyone with write access to a
repository, so loading is bounded: a file's size, how deep it nests, and how
much its aliases may repeat (a "billion laughs" document composes to a few
dozen nodes and expands to 10^9 values). Every refusal names file, line and
column and never quotes a value, which may be a password.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

PathKey = tuple[Any, ...]

_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Limits. Real inventories are kilobytes deep a dozen levels; these are far above them and far
# below what exhausts memory or Python's recursion limit (the composer and the build recurse per level).
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_EXPANSION = 100_000  # values an alias may add beyond those written out in the file


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


def _loc(file: str, node: yaml.Node | yaml.Mark) -> Location:
    mark = node if isinstance(node, yaml.Mark) else node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_DEPTH before its recursive composer overflows."""

    def __init__(self, text: str, file: str):
        super().__init__(text)
        self.file = file
        self.depth = 0
        self.composed = 0  # nodes written out in the file (aliases not counted)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        self.composed += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise SourceError(f"{_loc(self.file, mark)}: nested deeper than {MAX_DEPTH} levels; exconf refuses it")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_text(text: str, file: str) -> Document:
    """Parse one YAML document from text; ``file`` is the name used in locations."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, file)  # PyYAML checks the whole text for control characters here
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise SourceError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        # A control character (a binary file among the vars files): say where, as the scanner would.
        where = str(_position(file, text, exc.position))
        raise SourceError(f"{where}: not a YAML text file: control character #x{exc.character:04x}") from None
    except yaml.YAMLError as exc:  # pragma: no cover, no mutate - every loading error is marked or a ReaderError
        raise SourceError(f"{file}: invalid YAML: {exc}") from None  # pragma: no mutate
    finally:
        if loader is not None:
            loader.dispose()
    doc = Document(data=None, file=file, locations={}, key_locations={}, scalars={})
    if root is None:
        doc.locations[()] = Location(file, 1, 1)
        return doc
    builder = _Builder(doc, budget=loader.composed + MAX_ALIAS_EXPANSION)
    doc.data = builder.build(root, (), 1)
    return doc


def _position(file: str, text: str | bytes, offset: int) -> Location:
    chars = text if isinstance(text, str) else text.decode("latin-1")  # one character a byte: the same offsets
    line = chars.count("\n", 0, offset) + 1
    return Location(file, line, offset - (chars.rfind("\n", 0, offset) + 1) + 1)


def read_text_file(path: Path, display: str | None = None) -> str:
    """A text file of at most MAX_FILE_BYTES, UTF-8 (a byte-order mark is dropped); errors name where."""
    name = display or str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(f"{name}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; exconf reads no bigger YAML file")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{_position(name, raw, exc.start)}: not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


def load_file(path: Path, display: str | None = None) -> Document:
    """Read and parse a YAML (or JSON, a subset of it) file of at most MAX_FILE_BYTES."""
    name = display or str(path)
    return load_text(read_text_file(path, name), name)


class _Builder:
    """Builds Python values from composed nodes, recording locations, within an expansion budget."""

    def __init__(self, doc: Document, budget: int):
        self.doc = doc
        self.budget = budget  # values that may be built: those in the file plus MAX_ALIAS_EXPANSION
        self.constructor = yaml.SafeLoader("")  # builds scalars only; mappings and merges are resolved here
        self.merged: dict[int, tuple[list[tuple[yaml.Node, yaml.Node]], int]] = {}  # id(mapping) -> its pairs, how many merged
        self.open: set[int] = set()  # nodes being built (an alias to one of them is a cycle)
        self.flattening: set[int] = set()  # mappings whose merge keys are being resolved

    def build(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        where = _loc(self.doc.file, node)
        self.budget -= 1
        if self.budget < 0:
            raise SourceError(f"{where}: aliases repeat more than {MAX_ALIAS_EXPANSION} values; exconf refuses the document")
        if depth > MAX_DEPTH:  # reachable through aliases only: the composer bounds what is written out
            raise SourceError(f"{where}: nested deeper than {MAX_DEPTH} levels (through aliases); exconf refuses it")
        if id(node) in self.open:
            raise SourceError(f"{where}: an alias refers to the value that contains it")
        self.doc.locations[path] = where
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path, where)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            return self._mapping(cast(yaml.MappingNode, node), path, depth)  # the composer makes no other node
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathKey, depth: int) -> dict[Any, Any]:
        pairs, merged = self._pairs(node)
        keys: list[Any] = []
        winner: dict[Any, int] = {}
        for index, (key_node, _) in enumerate(pairs):
            key = self._key(key_node)
            if key in winner and winner[key] >= merged:  # written twice in this mapping (not merged)
                raise SourceError(f"{_loc(self.doc.file, key_node)}: duplicate key {key!r}")
            if key not in winner:
                keys.append(key)
            winner[key] = index  # a later pair wins: a key written in the mapping overrides a merged one
        result: dict[Any, Any] = {}
        for key in keys:
            key_node, value_node = pairs[winner[key]]
            self.doc.key_locations[path + (key,)] = _loc(self.doc.file, key_node)
            result[key] = self.build(value_node, path + (key,), depth + 1)
        return result

    def _pairs(self, node: yaml.MappingNode) -> tuple[list[tuple[yaml.Node, yaml.Node]], int]:
        """A mapping's pairs with merge keys (<<) resolved, and how many lead from merges.

        YAML's merge rule (yaml.org/type/merge.html): keys written in the mapping override
        merged ones, and of several merged mappings the first wins. Merged pairs are kept
        once per key (PyYAML's flatten_mapping compares key objects, which CPython shares
        for one-letter strings, and can drop an override), so merges cannot multiply.
        """
        if id(node) in self.merged:
            return self.merged[id(node)]
        if id(node) in self.flattening:
            raise SourceError(f"{_loc(self.doc.file, node)}: a merge key (<<) refers to the mapping that contains it")
        self.flattening.add(id(node))
        merged: dict[tuple[str, str], tuple[yaml.Node, yaml.Node]] = {}
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            if isinstance(value_node, yaml.MappingNode):
                sources = [value_node]
            elif isinstance(value_node, yaml.SequenceNode):
                sources = value_node.value
            else:
                raise SourceError(f"{_loc(self.doc.file, value_node)}: expected a mapping or list of mappings for merging, but found {value_node.id}")
            for source in reversed(sources):  # the first mapping listed wins: merge it last
                if not isinstance(source, yaml.MappingNode):
                    raise SourceError(f"{_loc(self.doc.file, source)}: expected a mapping for merging, but found {source.id}")
                source_pairs, _ = self._pairs(source)
                for pair in source_pairs:
                    self._key(pair[0])  # a plain value, or the error
                    merged[(pair[0].tag, pair[0].value)] = pair
        result = (list(merged.values()) + own, len(merged))
        self.merged[id(node)] = result
        return result

    def _key(self, key_node: yaml.Node) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            raise SourceError(f"{_loc(self.doc.file, key_node)}: a mapping key must be a plain value")
        return self._construct(key_node, _loc(self.doc.file, key_node))

    def _scalar(self, node: yaml.ScalarNode, path: PathKey, where: Location) -> Any:
        self.doc.scalars[path] = ScalarSource(text=node.value, plain=node.style is None)
        return self._construct(node, where)

    def _construct(self, node: yaml.ScalarNode, where: Location) -> Any:
        # Never quote the text: the value may be a password. Say which tag could not be read.
        tag = node.tag.rpartition(":")[2]
        try:
            return self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise SourceError(f"{where}: {exc.problem}") from None
        except (ValueError, TypeError, OverflowError):
            raise SourceError(f"{where}: not a valid {tag} (YAML reads the unquoted value as one; put it in quotes)") from None
