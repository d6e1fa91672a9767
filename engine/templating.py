"""Jinja in inventory variables, rendered per host as Ansible renders it, in a sandbox.

A value with ``{{``, ``{%`` or ``{#`` is a template. It is rendered lazily
with the host's own variables and Ansible's magic variables
(``inventory_hostname``, ``inventory_hostname_short``, ``group_names``,
``groups``, ``hostvars``, ``inventory_dir``, ``inventory_file``), in
``ImmutableSandboxedEnvironment`` with strict undefined and no lookups, no
file and no environment access. As in ansible-core 2.19, a template that is
one expression keeps its type (``"{{ 5985 + 1 }}"`` is the number 5986).
Anything it cannot render is an error naming the file:line:col of the
variable that holds the template, so no ``{{`` is ever sent to a server or
used as a credential. A value rendered from a sensitive one is sensitive.
"""

from __future__ import annotations

import base64
import itertools
import json
import ntpath
import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import yaml
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from .schema import dotted
from .sensitive import Sensitive, VaultText, is_sensitive
from .yamlsource import Location, PathKey

MARKERS = ("{{", "{%", "{#")
MAX_TEXT = 1_000_000  # characters a template may build (a sandbox, not a CPU heater)
MAX_STEPS = 1_000_000  # range() loop steps per host


class RenderError(Exception):
    """A template that cannot be rendered; the message names file:line:col and the variable."""


class Unsafe(str):
    """A text Ansible marks ``!unsafe``: used exactly as written, never rendered."""

    __slots__ = ()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, Unsafe) and any(m in value for m in MARKERS)


def has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return is_template(value)


# ---- filters and tests Ansible users write (ansible.builtin), pure functions ------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError(msg or "mandatory variable is not defined")
    return value


def _regex_replace(value: Any, pattern: str, replacement: str = "", ignorecase: bool = False, multiline: bool = False) -> str:
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    return re.sub(pattern, replacement, str(value), flags=flags)


def _regex_search(value: Any, pattern: str, *groups: str, ignorecase: bool = False, multiline: bool = False) -> Any:
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    m = re.search(pattern, str(value), flags=flags)
    if not m:
        return None
    if not groups:
        return m.group(0)
    out = []
    for g in groups:
        if g.startswith("\\g<"):
            out.append(m.group(g[3:-1]))
        elif g.startswith("\\"):
            out.append(m.group(int(g[1:])))
    return out


def _combine(*dicts: Any, recursive: bool = False, list_merge: str = "replace") -> dict[str, Any]:
    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            if recursive and isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            elif list_merge == "append" and isinstance(v, list) and isinstance(out.get(k), list):
                out[k] = out[k] + v
            else:
                out[k] = v
        return out

    result: dict[str, Any] = {}
    for d in itertools.chain.from_iterable(x if isinstance(x, list) else [x] for x in dicts):
        result = merge(result, d)
    return result


def _flatten(value: list[Any], levels: int | None = None) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if isinstance(item, list) and (levels is None or levels > 0):
            out.extend(_flatten(item, None if levels is None else levels - 1))
        elif item is not None:
            out.append(item)
    return out


def _unique(seq: Any) -> list[Any]:
    out: list[Any] = []
    for x in seq:
        if x not in out:
            out.append(x)
    return out


def _split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return str(value).split(sep, maxsplit)


def _ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": _bool,
    "mandatory": _mandatory,
    "ternary": _ternary,
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "regex_findall": lambda v, p, ignorecase=False, multiline=False: re.findall(p, str(v), (re.I if ignorecase else 0) | (re.M if multiline else 0)),
    "regex_escape": lambda v: re.escape(str(v)),
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "to_nice_json": lambda v, indent=4, **kw: json.dumps(v, indent=indent, sort_keys=True, separators=(",", ": "), **kw),
    "from_json": lambda v: json.loads(v),
    "to_yaml": lambda v, **kw: yaml.safe_dump(v, allow_unicode=True, default_flow_style=None, **kw),
    "to_nice_yaml": lambda v, indent=4, **kw: yaml.safe_dump(v, indent=indent, allow_unicode=True, default_flow_style=False, **kw),
    "from_yaml": lambda v: yaml.safe_load(v),
    "b64encode": lambda v, encoding="utf-8": base64.b64encode(str(v).encode(encoding)).decode("ascii"),
    "b64decode": lambda v, encoding="utf-8": base64.b64decode(str(v)).decode(encoding),
    "basename": lambda v: posixpath.basename(str(v)),
    "dirname": lambda v: posixpath.dirname(str(v)),
    "win_basename": lambda v: ntpath.basename(str(v)),
    "win_dirname": lambda v: ntpath.dirname(str(v)),
    "splitext": lambda v: list(posixpath.splitext(str(v))),
    "quote": lambda v: shlex.quote(str(v)),
    "combine": _combine,
    "dict2items": lambda d, key_name="key", value_name="value": [{key_name: k, value_name: v} for k, v in d.items()],
    "items2dict": lambda items, key_name="key", value_name="value": {i[key_name]: i[value_name] for i in items},
    "flatten": _flatten,
    "unique": _unique,
    "union": lambda a, b: _unique(list(a) + list(b)),
    "intersect": lambda a, b: [x for x in _unique(a) if x in b],
    "difference": lambda a, b: [x for x in _unique(a) if x not in b],
    "symmetric_difference": lambda a, b: [x for x in _unique(list(a) + list(b)) if (x in a) != (x in b)],
    "zip": lambda *lists: [list(t) for t in zip(*lists, strict=False)],  # shortest, as Ansible's
    "split": _split,
    "type_debug": lambda v: type(v).__name__ if not isinstance(v, Sensitive) else "str",
}

TESTS: dict[str, Callable[..., bool]] = {
    "match": lambda v, p, ignorecase=False, multiline=False: re.match(p, str(v), (re.I if ignorecase else 0) | (re.M if multiline else 0)) is not None,
    "search": lambda v, p, ignorecase=False, multiline=False: re.search(p, str(v), (re.I if ignorecase else 0) | (re.M if multiline else 0)) is not None,
    "regex": lambda v, p, ignorecase=False, multiline=False, match_type="search": getattr(re, match_type)(p, str(v), (re.I if ignorecase else 0) | (re.M if multiline else 0)) is not None,
    "truthy": lambda v: bool(v),
    "falsy": lambda v: not v,
    "contains": lambda seq, v: v in seq,
}


def _no_lookup(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise jinja2.exceptions.SecurityError(f"{name}() is not available in exconf inventories: lookup plugins would read files, the environment or the network; put the value in a variable, a vault or exconf_password_env")

    return refuse


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with native types for single expressions and a cap on the size of what is built."""

    code_generator_class = NativeCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1000:
            raise jinja2.exceptions.SecurityError("an exponent above 1000 is not allowed in the sandbox")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list)) and len(result) > MAX_TEXT:
            raise jinja2.exceptions.SecurityError(f"a value longer than {MAX_TEXT} is not allowed in the sandbox")
        return result

    @staticmethod
    def concat(values: Iterator[Any]) -> Any:  # type: ignore[override]
        head = list(itertools.islice(values, 2))
        if not head:
            return ""
        if len(head) == 1:
            return head[0]
        parts, size = [], 0
        for v in itertools.chain(head, values):
            part = str(v)
            size += len(part)
            if size > MAX_TEXT:
                raise jinja2.exceptions.SecurityError(f"a value longer than {MAX_TEXT} is not allowed in the sandbox")
            parts.append(part)
        return "".join(parts)


def make_environment() -> jinja2.Environment:
    env = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters.update(FILTERS)
    env.filters["d"] = env.filters["default"]
    env.tests.update(TESTS)
    env.globals.pop("lipsum", None)
    for name in ("lookup", "query", "q"):
        env.globals[name] = _no_lookup(name)
    return env


# ---- lazy, per-host variables -----------------------------------------------------------------


@dataclass
class _Tracker:
    """What the render in progress has touched: sensitive values, and the variables being rendered (for cycles)."""

    sensitive: bool = False
    stack: list[tuple[str | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """One host's raw (merged, unrendered) variables, its magic variables, and where each value was written."""

    name: str | None  # None for the organisation (no inventory_hostname)
    raw: Mapping[str, Any]
    magic: Mapping[str, Any]
    sources: Mapping[PathKey, Location]

    def where(self, path: PathKey) -> Location | None:
        return nearest(self.sources, path)


def nearest(sources: Mapping[PathKey, Location], path: PathKey) -> Location | None:
    """Where a value was written: its own location, or its closest parent's."""
    p = tuple(path)
    while p:
        if p in sources:
            return sources[p]
        p = p[:-1]
    return None


class Renderer:
    """Renders every host's variables; a variable is rendered once per host and cached."""

    def __init__(self, scopes: Mapping[str | None, Scope]):
        self.env = make_environment()
        self.scopes = scopes
        self.tracker = _Tracker()
        self._cache: dict[tuple[str | None, str], Any] = {}
        self._compiled: dict[str, jinja2.Template] = {}
        self.hostvars = _HostVars(self)
        self._steps = 0
        self.env.globals["range"] = self._range

    def variables(self, host: str | None) -> dict[str, Any]:
        """Every variable of a host, rendered."""
        self._steps = 0
        return {key: self.variable(host, key) for key in self.scopes[host].raw}

    def variable(self, host: str | None, key: str) -> Any:
        slot = (host, key)
        if slot in self._cache:
            value = self._cache[slot]
            if is_sensitive(value):
                self.tracker.sensitive = True
            return value
        scope = self.scopes[host]
        if slot in self.tracker.stack:
            cycle = " -> ".join(k for _, k in self.tracker.stack[self.tracker.stack.index(slot) :]) + f" -> {key}"
            where = scope.where((key,))
            raise RenderError(f"{where}: {key}: the template refers to itself ({cycle})")
        self.tracker.stack.append(slot)
        try:
            value = self._render(scope, (key,), scope.raw[key])
        finally:
            self.tracker.stack.pop()
        self._cache[slot] = value
        return value

    def _render(self, scope: Scope, path: PathKey, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._render(scope, path + (k,), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(scope, path + (i,), v) for i, v in enumerate(value)]
        secret = isinstance(value, Sensitive)
        if secret:
            self.tracker.sensitive = True
            if isinstance(value, VaultText) or not is_template(value):
                return value
        if not is_template(value):
            return value
        outer = self.tracker.sensitive
        self.tracker.sensitive = False
        try:
            result = self._render_text(scope, path, str(value))
            if (secret or self.tracker.sensitive) and isinstance(result, str):
                result = Sensitive(result)
        finally:
            self.tracker.sensitive = outer or self.tracker.sensitive
        return result

    def _render_text(self, scope: Scope, path: PathKey, text: str) -> Any:
        where = scope.where(path)
        name = dotted(path)
        try:
            template = self._compiled.get(text) or self.env.from_string(text)
            self._compiled[text] = template
        except jinja2.TemplateAssertionError as exc:
            raise RenderError(f"{where}: {name}: {_explain(str(exc.message))}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{where}: {name}: template syntax error: {exc.message} (line {exc.lineno} of the template)") from None
        try:
            context = template.new_context(_HostScope(self, scope), shared=True)
            result = template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
            undefined = _first_undefined(result)
            if undefined is not None:
                undefined._fail_with_undefined_error()
        except RenderError:
            raise
        except jinja2.exceptions.SecurityError as exc:
            raise RenderError(f"{where}: {name}: not allowed: {self._withheld(exc)}") from None
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{where}: {name}: {self._withheld(exc.message)}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"{where}: {name}: cannot render: {self._withheld(_explain(str(exc)))}") from None
        except RecursionError:
            raise RenderError(f"{where}: {name}: the template nests too deeply") from None
        except Exception as exc:  # a filter's own error (int('x'), a bad regex, b64 of garbage): say which and where
            raise RenderError(f"{where}: {name}: cannot render: {type(exc).__name__}: {self._withheld(exc)}") from None
        if isinstance(result, str) and any(m in result for m in MARKERS) and not self.tracker.sensitive:
            raise RenderError(f"{where}: {name}: renders to a text that still holds a template ({{{{ or {{%); exconf sends no template to a server")
        return result

    def _withheld(self, detail: object) -> str:
        """An error's detail, unless the template read a sensitive value (Jinja and Python messages may quote values)."""
        if self.tracker.sensitive:
            return "(details withheld: the template uses a sensitive value)"
        return str(detail)

    def _range(self, *args: int) -> range:
        """Jinja's sandboxed range, charged to a budget of steps per host, so that nested loops cannot hang a run."""
        steps = safe_range(*args)
        self._steps += len(steps)
        if self._steps > MAX_STEPS:
            raise jinja2.exceptions.SecurityError(f"more than {MAX_STEPS} range() steps in one host's templates")
        return steps


def _first_undefined(value: Any) -> jinja2.Undefined | None:
    if isinstance(value, jinja2.Undefined):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _first_undefined(item)
        if found is not None:
            return found
    return None


def _explain(message: str) -> str:
    m = re.match(r"No (filter|test) named '([^']+)'", message)
    if m:
        kind, known = m.group(1), sorted(FILTERS) if m.group(1) == "filter" else sorted(TESTS)
        return f"unknown {kind} {m.group(2)!r} (exconf has Jinja's built-in {kind}s and {', '.join(known)})"
    return message


class _HostScope(Mapping[str, Any]):
    """The variables a template of one host sees: its own, then the magic ones, then Jinja's globals."""

    def __init__(self, renderer: Renderer, scope: Scope):
        self.renderer, self.scope = renderer, scope

    def __getitem__(self, key: str) -> Any:
        if key in self.scope.raw:
            return self.renderer.variable(self.scope.name, key)
        if key == "hostvars":
            return self.renderer.hostvars
        if key == "vars":
            return _AllVars(self.renderer, self.scope)
        if key in self.scope.magic:
            return self.scope.magic[key]
        return self.renderer.env.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.scope.raw or key in ("hostvars", "vars") or key in self.scope.magic or key in self.renderer.env.globals

    def __iter__(self) -> Iterator[str]:
        return iter(set(self.scope.raw) | set(self.scope.magic))

    def __len__(self) -> int:
        return len(set(self.scope.raw) | set(self.scope.magic))


class _AllVars(_HostScope):
    """``vars``: the host's variables (without Jinja's globals)."""

    def __contains__(self, key: object) -> bool:
        return key in self.scope.raw or key in self.scope.magic

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return super().__getitem__(key)


class _HostVars(Mapping[str, Any]):
    """``hostvars``: every host's variables, rendered when read."""

    def __init__(self, renderer: Renderer):
        self.renderer = renderer

    def __getitem__(self, host: str) -> Any:
        if host is None or host not in self.renderer.scopes:
            raise KeyError(host)
        return _AllVars(self.renderer, self.renderer.scopes[host])

    def __iter__(self) -> Iterator[str]:
        return iter(h for h in self.renderer.scopes if h is not None)

    def __len__(self) -> int:
        return sum(1 for h in self.renderer.scopes if h is not None)
