"""Jinja in inventory variables, rendered per host as ansible-core 2.19 renders it, in a sandbox.

A value with ``{{``, ``{%`` or ``{#`` is a template. It is rendered lazily,
when a selected host needs it, with the host's own variables and Ansible's
magic variables (``inventory_hostname``, ``inventory_hostname_short``,
``group_names``, ``groups``, ``hostvars``, ``inventory_dir``,
``inventory_file``), in ``ImmutableSandboxedEnvironment`` with strict
undefined. As in ansible-core 2.19:

- a template that is one expression keeps its type (``"{{ 5985 + 1 }}"`` is
  the number 5986);
- backslashes in the string literals of a ``{{ }}`` expression are kept as
  written (``'D:\\Logs\\transport'`` is not a TAB): ansible-core's
  ``AnsibleLexer`` (``_internal/_templating/_jinja_bits.py``) doubles them
  before Jinja reads the escapes, so that YAML alone decides what a backslash
  means; literals inside ``{% %}`` are read by Jinja as usual;
- ``trim_blocks`` is on, ``omit`` drops the element it stands for, and every
  filter and test is also ``ansible.builtin.NAME``.

The lookups ``env``, ``file`` (inside the inventory's folder) and ``vars`` work
as ansible-core's do; any other lookup is refused by name. Anything it cannot
render is an error naming the file:line:col of the variable that holds the
template, so no ``{{`` is ever sent to a server or used as a credential. A
value rendered from a sensitive one is sensitive.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from .schema import dotted
from .sensitive import Sensitive, VaultText, is_sensitive
from .template_plugins import FILTERS, NAMESPACES, OMIT, TESTS, FilterError, now, strip_omit
from .vault import Encrypted, VaultError, VaultSecrets, decrypt, is_encrypted
from .yamlsource import Location, PathKey

MARKERS = ("{{", "{%", "{#")
MAX_TEXT = 1_000_000  # characters a template may build (a sandbox, not a CPU heater)
MAX_STEPS = 1_000_000  # range() loop steps per host
MAX_FILE = 8 * 1024 * 1024  # bytes lookup('file') reads, as for an inventory's YAML file


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


class _AnsibleLexer(Lexer):
    """ansible-core 2.19's AnsibleLexer: backslashes in the string constants of ``{{ }}`` are doubled before
    Jinja reads escapes, so ``'D:\\t'`` stays a backslash and a t; ``{% %}`` statements are left as Jinja reads them."""

    def tokeniter(self, *args: Any, **kwargs: Any) -> Iterator[tuple[int, str, str]]:
        in_variable = False
        for token in super().tokeniter(*args, **kwargs):
            kind = token[1]
            if kind == TOKEN_VARIABLE_BEGIN:
                in_variable = True
            elif kind == TOKEN_VARIABLE_END:
                in_variable = False
            elif in_variable and kind == TOKEN_STRING:
                token = (token[0], kind, token[2].replace("\\", "\\\\"))
            yield token


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


    @property
    def lexer(self) -> Lexer:
        lexer = self.__dict__.get("_ansible_lexer")
        if lexer is None:
            lexer = self.__dict__["_ansible_lexer"] = _AnsibleLexer(self)
        return lexer


def _undef(hint: str | None = None) -> jinja2.Undefined:
    """ansible-core's ``undef()``: an undefined value, with a hint of why, for ``default`` or ``mandatory`` to handle."""
    return jinja2.StrictUndefined(hint=hint or "undef() was used")


@jinja2.pass_context
def _finalize(context: Any, value: Any) -> Any:
    """Each ``{{ }}`` result as ansible-core finalizes it: generators and tuples become lists."""
    return _native(value)


def _native(value: Any) -> Any:
    if isinstance(value, (str, bytes, int, float, bool, type(None), dict, list)) or isinstance(value, jinja2.Undefined):
        return value
    if isinstance(value, (tuple, range)) or type(value).__name__ in ("generator", "map", "filter", "zip", "dict_keys", "dict_values", "dict_items", "reversed", "list_reverseiterator"):
        return list(value)
    return value


def make_environment() -> jinja2.Environment:
    """Jinja as ansible-core 2.19 configures it (trim_blocks, no autoescape), sandboxed, with Ansible's filters and tests."""
    env = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, trim_blocks=True)
    # As ansible-core (_jinja_bits.py): no constant folding, which would turn a folded expression into its
    # text ('3' for 3); a finalize that takes the context is what keeps Jinja from folding an output.
    env.optimized = False
    env.finalize = _finalize
    env.filters.update(FILTERS)
    env.filters["d"] = env.filters["default"]
    env.tests.update(TESTS)
    for table in (env.filters, env.tests):
        for name in list(table):
            for namespace in NAMESPACES:
                table[namespace + name] = table[name]
    env.globals.pop("lipsum", None)
    env.globals.update(now=now, omit=OMIT, undef=_undef)
    return env


# ---- lookups ----------------------------------------------------------------------------------

LOOKUPS = ("env", "file", "vars")
_REFUSED = {
    "pipe": "runs a command on the controller",
    "lines": "runs a command on the controller",
    "password": "writes files on the controller",
    "url": "reaches the network",
    "template": "renders files from the controller",
    "unvault": "reads files from the controller",
    "fileglob": "lists files on the controller",
    "first_found": "reads files from the controller",
    "ini": "reads files from the controller",
    "csvfile": "reads files from the controller",
    "config": "reads Ansible's configuration",
}


class LookupError_(jinja2.exceptions.TemplateRuntimeError):
    """A lookup that failed (a missing file, a variable that is not there), in ansible-core's words."""


def _plugin(name: Any) -> str:
    text = str(name)
    for namespace in NAMESPACES:
        if text.startswith(namespace):
            return text[len(namespace):]
    return text


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
    """Renders hosts' variables when they are read; a variable is rendered once per host and cached.

    ``base_dir`` is the inventory's folder (``lookup('file')`` reads inside it only),
    ``secrets`` decrypt what it reads there, ``environ`` is what ``lookup('env')`` sees.
    """

    def __init__(self, scopes: Mapping[str | None, Scope], *, base_dir: Path | None = None,
                 secrets: VaultSecrets | None = None, environ: Mapping[str, str] | None = None):
        self.env = make_environment()
        self.scopes = scopes
        self.base_dir = base_dir
        self.secrets = secrets or VaultSecrets()
        self.environ = os.environ if environ is None else environ
        self.tracker = _Tracker()
        self._cache: dict[tuple[str | None, str], Any] = {}
        self._compiled: dict[str, jinja2.Template] = {}
        self.hostvars = _HostVars(self)
        self._steps: dict[str | None, int] = {}
        self._lock = threading.RLock()  # a carrier's variables may be read from a worker thread
        self.env.globals["range"] = self._range
        self.env.globals["lookup"] = self._lookup_global(wantlist=False)
        self.env.globals["query"] = self.env.globals["q"] = self._lookup_global(wantlist=True)

    def variables(self, host: str | None) -> dict[str, Any]:
        """Every variable of a host, rendered (a variable that is ``omit`` is left out, as if it were not set)."""
        out = {key: self.variable(host, key) for key in self.scopes[host].raw}
        return {k: v for k, v in out.items() if v is not OMIT}

    def variable(self, host: str | None, key: str) -> Any:
        with self._lock:
            return self._variable(host, key)

    def _variable(self, host: str | None, key: str) -> Any:
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
            rendered = ((k, self._render(scope, path + (k,), v)) for k, v in value.items())
            return {k: v for k, v in rendered if v is not OMIT}
        if isinstance(value, list):
            items = (self._render(scope, path + (i,), v) for i, v in enumerate(value))
            return [v for v in items if v is not OMIT]
        if isinstance(value, Encrypted):
            try:
                value = value.decrypt()
            except VaultError as exc:
                raise RenderError(f"{exc} (for {dotted(path)})") from None
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
            context = template.new_context(_HostScope(self, scope), shared=True)  # type: ignore[arg-type]  # jinja2 reads any mapping: this one renders each variable when first read
            result = template.environment.concat(template.root_render_func(context))
            result = strip_omit(result)
            undefined = _first_undefined(result)
            if undefined is not None:
                undefined._fail_with_undefined_error()
        except RenderError:
            raise
        except jinja2.exceptions.SecurityError as exc:
            raise RenderError(f"{where}: {name}: not allowed: {self._withheld(exc)}") from None
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{where}: {name}: {self._withheld(exc.message)}") from None
        except (FilterError, LookupError_) as exc:
            raise RenderError(f"{where}: {name}: cannot render: {self._withheld(exc)}") from None
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
        host = self.tracker.stack[0][0] if self.tracker.stack else None
        self._steps[host] = self._steps.get(host, 0) + len(steps)
        if self._steps[host] > MAX_STEPS:
            raise jinja2.exceptions.SecurityError(f"more than {MAX_STEPS} range() steps in one host's templates")
        return steps

    # --- lookups (ansible-core's _invoke_lookup, for env, file and vars) ---------------------

    def _lookup_global(self, wantlist: bool) -> Callable[..., Any]:
        @jinja2.pass_context
        def call(context: Any, plugin: Any, *terms: Any, **kwargs: Any) -> Any:
            want = bool(kwargs.pop("wantlist", wantlist))
            errors = kwargs.pop("errors", "strict")
            name = _plugin(plugin)
            if name not in LOOKUPS:
                why = _REFUSED.get(name, "is not one exconf offers")
                raise jinja2.exceptions.SecurityError(
                    f"lookup {str(plugin)!r} {why}: an exconf inventory is data, read without running anything; "
                    f"the lookups offered are {', '.join(LOOKUPS)}"
                )
            try:
                found = getattr(self, f"_lookup_{name}")(context.parent, list(terms), kwargs)
            except (LookupError_, FilterError, VaultError) as exc:
                if errors in ("warn", "ignore"):
                    return [] if want else None
                raise LookupError_(f"lookup('{name}'): {exc}") from None
            if not want and found:
                if len(found) == 1:
                    return found[0]
                try:
                    return ",".join(found)
                except TypeError:
                    return found
            return found

        return call

    def _lookup_env(self, scope: Any, terms: list[Any], options: dict[str, Any]) -> list[Any]:
        default = options.pop("default", "")
        _no_options("env", options)
        out = []
        for term in terms:
            var = str(term).split()[0] if str(term).split() else str(term)
            out.append(self.environ.get(var, default))
        return out

    def _lookup_vars(self, scope: Any, terms: list[Any], options: dict[str, Any]) -> list[Any]:
        default = options.pop("default", None)
        _no_options("vars", options)
        out = []
        for term in terms:
            if not isinstance(term, str):
                raise LookupError_(f"Variable name must be 'str' not {type(term).__name__!r}.")
            if isinstance(scope, _HostScope) and scope.has_variable(term):
                out.append(scope[term])
            elif default is not None:
                out.append(default)
            else:
                raise LookupError_(f"No variable named {term!r} was found.")
        return out

    def _lookup_file(self, scope: Any, terms: list[Any], options: dict[str, Any]) -> list[Any]:
        lstrip, rstrip = bool(options.pop("lstrip", False)), bool(options.pop("rstrip", True))
        _no_options("file", options)
        out: list[Any] = []
        for term in terms:
            text = self._read_file(str(term))
            if lstrip:
                text = type(text)(text.lstrip()) if isinstance(text, Sensitive) else text.lstrip()
            if rstrip:
                text = type(text)(text.rstrip()) if isinstance(text, Sensitive) else text.rstrip()
            out.append(text)
        return out

    def _read_file(self, term: str) -> str:
        """ansible-core's search for a file (``files/TERM``, then ``TERM``), in the inventory's folder only."""
        if self.base_dir is None:
            raise LookupError_(f"Unable to access the file {term!r}: this inventory has no folder to read files from")
        base = self.base_dir.resolve()
        given = Path(term).expanduser()
        candidates = [given] if given.is_absolute() else [base / "files" / given, base / given]
        for candidate in candidates:
            if not candidate.is_file():
                continue
            real = candidate.resolve()
            if real != base and base not in real.parents:
                raise LookupError_(f"Unable to access the file {term!r}: it is outside the inventory's folder {base} (exconf reads no other file)")
            try:
                with real.open("rb") as handle:
                    data = handle.read(MAX_FILE + 1)
            except OSError as exc:
                raise LookupError_(f"Unable to access the file {term!r}: {exc.strerror}") from None
            if len(data) > MAX_FILE:
                raise LookupError_(f"Unable to access the file {term!r}: it is larger than {MAX_FILE} bytes")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise LookupError_(f"Unable to access the file {term!r}: it is not UTF-8 text") from None
            if is_encrypted(text):  # as ansible-core's loader, a vault-encrypted file is decrypted (and is a secret)
                self.tracker.sensitive = True
                return VaultText(decrypt(text, self.secrets, str(candidate)))
            return text
        where = " or ".join(str(c) for c in candidates)
        raise LookupError_(f"Unable to access the file {term!r}: no such file ({where})")


def _no_options(plugin: str, options: dict[str, Any]) -> None:
    if options:
        raise LookupError_(f"unknown option{'s' if len(options) > 1 else ''} {', '.join(sorted(options))} for the {plugin} lookup")


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
        return self.has_variable(key) or key in self.renderer.env.globals

    def has_variable(self, key: object) -> bool:
        """A variable of the host (its own, hostvars, vars, a magic one), not one of Jinja's globals."""
        return key in self.scope.raw or key in ("hostvars", "vars") or key in self.scope.magic

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
