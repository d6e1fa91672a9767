"""The filters, tests and global functions inventory templates may use, as ansible-core 2.19 defines them.

Each function follows the ansible-core implementation named beside it
(``ansible/plugins/filter/core.py``, ``mathstuff.py``, ``plugins/test/core.py``,
``_internal/_templating/_jinja_plugins.py``), so that a value renders in exconf
exactly as ``ansible all -m debug`` renders it; ``tests/parity`` proves it side by
side for every name offered here. Everything is pure, except ``now()`` and
``strftime`` (the clock), which ansible-core offers too. Lookups need the host's
variables and the inventory's folder: they live in ``templating``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import ntpath
import operator as py_operator
import posixpath
import pprint
import random as _random
import re
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence
from typing import Any

import jinja2
import yaml
from jinja2.filters import do_unique

from .sensitive import Sensitive


class FilterError(Exception):
    """A filter or test refused its input, with ansible-core's reason."""


class _OmitType:
    """ansible-core's ``omit``: an element that renders as nothing.

    In a list or a mapping the element is dropped; inside a text it is the empty
    text; a variable that is ``omit`` as a whole is as if it were not set
    (ansible-core 2.19, ``_internal/_templating/_jinja_common.py``: ``Omit``).
    """

    _instance: _OmitType | None = None

    def __new__(cls) -> _OmitType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<<Omit>>"


OMIT = _OmitType()


def strip_omit(value: Any) -> Any:
    """``value`` without ``omit`` elements in its lists and mappings (at any depth)."""
    if isinstance(value, dict):
        return {k: strip_omit(v) for k, v in value.items() if v is not OMIT}
    if isinstance(value, list):
        return [strip_omit(v) for v in value if v is not OMIT]
    return value


def _text(value: Any) -> str:
    """ansible-core's ``to_text(value, nonstring='simplerepr')``."""
    return value if isinstance(value, str) else str(value)


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


# ---- filters (ansible/plugins/filter/core.py) -------------------------------------------------


_BOOL_TRUE = {"yes", "on", "true", "1"}
_BOOL_FALSE = {"no", "off", "false", "0"}


def to_bool(value: Any) -> bool:
    """core.py ``to_bool``: yes/on/true/1 and no/off/false/0 in any case, numbers and booleans by their text;
    anything else is what ansible-core's fallback gives (``value == 1``)."""
    check: Any = value.lower() if isinstance(value, str) else str(value).lower() if isinstance(value, int) else value
    try:
        if check in _BOOL_TRUE:
            return True
        if check in _BOOL_FALSE:
            return False
        return bool(check == 1)
    except TypeError:
        return False


def mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        if msg is not None:
            raise FilterError(str(msg))
        name = getattr(value, "_undefined_name", None)
        raise FilterError(f"Mandatory variable {name!r} not defined." if name is not None else "Mandatory variable not defined.")
    return value


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if bool(value) else false_val


def regex_replace(value: Any = "", pattern: str = "", replacement: str = "", ignorecase: bool = False, multiline: bool = False, count: int = 0, mandatory_count: int = 0) -> str:
    text = _text(value)
    output, subs = re.compile(pattern, flags=_flags(ignorecase, multiline)).subn(replacement, text, count=count)
    if mandatory_count and mandatory_count != subs:
        raise FilterError(f"'{pattern}' should match {mandatory_count} times, but matches {count} times in '{text}'")
    return output


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False) -> list[Any]:
    return re.findall(regex, _text(value), _flags(ignorecase, multiline))


def regex_search(value: Any, regex: str, *args: str, **kwargs: Any) -> Any:
    groups: list[int | str] = []
    for arg in args:
        if arg.startswith("\\g"):
            m = re.match(r"\\g<(\S+)>", arg)
            if m is None:
                raise FilterError("Unknown argument")
            groups.append(m.group(1))
        elif arg.startswith("\\"):
            m = re.match(r"\\(\d+)", arg)
            if m is None:
                raise FilterError("Unknown argument")
            groups.append(int(m.group(1)))
        else:
            raise FilterError("Unknown argument")
    match = re.search(regex, _text(value), _flags(bool(kwargs.get("ignorecase")), bool(kwargs.get("multiline"))))
    if not match:
        return None
    if not groups:
        return match.group()
    return [match.group(g) for g in groups]


def regex_escape(value: Any, re_type: str = "python") -> str:
    text = _text(value)
    if re_type == "python":
        return re.escape(text)
    if re_type == "posix_basic":
        return regex_replace(text, r"([].[^$*\\])", r"\\\1")
    if re_type == "posix_extended":
        raise FilterError(f"Regex type ({re_type}) not yet implemented")
    raise FilterError(f"Invalid regex type ({re_type})")


def to_json(value: Any, *args: Any, **kwargs: Any) -> str:
    return json.dumps(value, *args, **kwargs)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> str:
    kwargs.pop("separators", None)
    return json.dumps(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kwargs)


class _Dumper(yaml.SafeDumper):
    """ansible-core's AnsibleDumper, for what an inventory holds: texts (Sensitive too), numbers, lists, mappings."""


_Dumper.add_representer(Sensitive, lambda dumper, data: dumper.represent_str(str(data)))


def to_yaml(value: Any, *args: Any, **kwargs: Any) -> str:
    kwargs.setdefault("default_flow_style", None)
    return yaml.dump(value, *args, Dumper=_Dumper, allow_unicode=True, **kwargs)  # type: ignore[call-overload]  # Ansible's filter passes yaml.dump's keywords through


def to_nice_yaml(value: Any, indent: int = 4, *args: Any, **kwargs: Any) -> str:
    return yaml.dump(value, *args, Dumper=_Dumper, indent=indent, allow_unicode=True, default_flow_style=False, **kwargs)  # type: ignore[call-overload]  # as to_yaml


def from_json(value: Any, **kwargs: Any) -> Any:
    return json.loads(value, **kwargs)


def from_yaml(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return yaml.safe_load(value)
    return value


def from_yaml_all(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return list(yaml.safe_load_all(value))
    return value


def b64encode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(_text(value).encode(encoding, "surrogateescape")).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    return decode(_text(value).encode("utf-8", "surrogateescape")).decode(encoding, "surrogateescape")


def quote(value: Any) -> str:
    return shlex.quote("" if value is None else _text(value))


def win_splitdrive(path: Any) -> list[str]:
    return list(ntpath.splitdrive(_text(path)))


def merge_hash(x: Mapping[Any, Any], y: Mapping[Any, Any], recursive: bool = True, list_merge: str = "replace") -> dict[Any, Any]:
    """ansible/utils/vars.py ``merge_hash``: y over x."""
    if list_merge not in ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp"):
        raise FilterError("merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'")
    if not isinstance(x, MutableMapping) or not isinstance(y, MutableMapping):
        raise FilterError(f"failed to combine variables, expected dicts but got a '{type(x).__name__}' and a '{type(y).__name__}'")
    if x == {} or x == y:
        return dict(y)
    if y == {}:
        return dict(x)
    out = dict(x)
    for key, y_value in y.items():
        if key not in out:
            out[key] = y_value
            continue
        x_value = out[key]
        if isinstance(x_value, MutableMapping) and isinstance(y_value, MutableMapping):
            out[key] = merge_hash(x_value, y_value, recursive, list_merge) if recursive else y_value
        elif isinstance(x_value, MutableSequence) and isinstance(y_value, MutableSequence):
            if list_merge == "replace":
                out[key] = y_value
            elif list_merge == "append":
                out[key] = list(x_value) + list(y_value)
            elif list_merge == "prepend":
                out[key] = list(y_value) + list(x_value)
            elif list_merge == "append_rp":
                out[key] = [z for z in x_value if z not in y_value] + list(y_value)
            elif list_merge == "prepend_rp":
                out[key] = list(y_value) + [z for z in x_value if z not in y_value]
        else:
            out[key] = y_value
    return out


def combine(*terms: Any, **kwargs: Any) -> Any:
    recursive = kwargs.pop("recursive", False)
    list_merge = kwargs.pop("list_merge", "replace")
    if kwargs:
        raise FilterError("'recursive' and 'list_merge' are the only valid keyword arguments")
    dictionaries = flatten(list(terms), levels=1)
    if not dictionaries:
        return {}
    if len(dictionaries) == 1:
        return dictionaries[0]
    high_to_low = reversed(dictionaries)
    result = next(high_to_low)
    for dictionary in high_to_low:
        result = merge_hash(dictionary, result, recursive, list_merge)
    return result


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def flatten(mylist: Any, levels: int | None = None, skip_nulls: bool = True) -> list[Any]:
    out: list[Any] = []
    for element in mylist:
        if skip_nulls and element in (None, "None", "null"):
            continue
        if _is_sequence(element):
            if levels is None:
                out.extend(flatten(element, skip_nulls=skip_nulls))
            elif levels >= 1:
                out.extend(flatten(element, levels=int(levels) - 1, skip_nulls=skip_nulls))
            else:
                out.append(element)
        else:
            out.append(element)
    return out


def dict2items(value: Any, key_name: str = "key", value_name: str = "value") -> list[dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise FilterError(f"dict2items requires a dictionary, got {type(value).__name__} instead.")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def items2dict(mylist: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    if not _is_sequence(mylist):
        raise FilterError(f"items2dict requires a list, got {type(mylist).__name__} instead.")
    try:
        return {item[key_name]: item[value_name] for item in mylist}
    except KeyError:
        raise FilterError(f"items2dict requires each dictionary in the list to contain the keys {key_name!r} and {value_name!r}") from None
    except TypeError:
        raise FilterError("items2dict requires a list of dictionaries") from None


def split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    return _text(value).split(sep, maxsplit)


@jinja2.pass_environment
def unique(environment: jinja2.Environment, a: Any, case_sensitive: bool | None = None, attribute: Any = None) -> list[Any]:
    """mathstuff.py ``unique``: Jinja's, case-insensitive unless told otherwise."""
    return list(do_unique(environment, a, case_sensitive=bool(case_sensitive), attribute=attribute))


def _set_or_ordered(op: Callable[[set[Any], set[Any]], set[Any]], ordered: Callable[[], list[Any]], a: Any, b: Any) -> list[Any]:
    """mathstuff.py's set filters: Python sets where the items can be hashed (so the order is not defined), else in order."""
    try:
        return list(op(set(a), set(b)))
    except TypeError:
        return ordered()


def _first_each(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def union(a: Any, b: Any) -> list[Any]:
    return _set_or_ordered(py_operator.or_, lambda: _first_each(list(a) + list(b)), a, b)


def intersect(a: Any, b: Any) -> list[Any]:
    return _set_or_ordered(py_operator.and_, lambda: _first_each([x for x in a if x in b]), a, b)


def difference(a: Any, b: Any) -> list[Any]:
    return _set_or_ordered(py_operator.sub, lambda: _first_each([x for x in a if x not in b]), a, b)


def symmetric_difference(a: Any, b: Any) -> list[Any]:
    def ordered() -> list[Any]:
        both = intersect(a, b)
        return [x for x in union(a, b) if x not in both]

    return _set_or_ordered(py_operator.xor, ordered, a, b)


def type_debug(value: Any) -> str:
    return "str" if isinstance(value, Sensitive) else type(value).__name__


def get_hash(data: Any, hashtype: str = "sha1") -> str:
    """core.py ``get_hash`` (the ``hash`` filter): any algorithm hashlib knows."""
    try:
        h = hashlib.new(hashtype)
    except (ValueError, TypeError) as exc:
        raise FilterError(str(exc)) from None
    h.update(_text(data).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


UUID_NAMESPACE_ANSIBLE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")


def to_uuid(string: Any, namespace: Any = UUID_NAMESPACE_ANSIBLE) -> str:
    ns = namespace
    if not isinstance(ns, uuid.UUID):
        try:
            ns = uuid.UUID(namespace)
        except (AttributeError, ValueError, TypeError) as exc:
            raise FilterError(f"Invalid value '{namespace}' for 'namespace': {exc}") from None
    return str(uuid.uuid5(ns, _text(string)))


SIZE_RANGES = {"Y": 1 << 80, "Z": 1 << 70, "E": 1 << 60, "P": 1 << 50, "T": 1 << 40, "G": 1 << 30, "M": 1 << 20, "K": 1 << 10, "B": 1}
VALID_UNITS = {
    "B": (("byte", "B"), ("bit", "b")), "K": (("kilobyte", "KB"), ("kilobit", "Kb")), "M": (("megabyte", "MB"), ("megabit", "Mb")),
    "G": (("gigabyte", "GB"), ("gigabit", "Gb")), "T": (("terabyte", "TB"), ("terabit", "Tb")), "P": (("petabyte", "PB"), ("petabit", "Pb")),
    "E": (("exabyte", "EB"), ("exabit", "Eb")), "Z": (("zetabyte", "ZB"), ("zetabit", "Zb")), "Y": (("yottabyte", "YB"), ("yottabit", "Yb")),
}


def human_to_bytes(number: Any, default_unit: str | None = None, isbits: bool = False) -> int:
    """module_utils/common/text/formatters.py ``human_to_bytes``: binary units, 'B' for bytes ('b' for bits with isbits)."""
    m = re.search(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$", str(number))
    if m is None:
        raise FilterError(f"human_to_bytes() can't interpret following string: {number}")
    num = float(m.group(1))
    unit = m.group(2) or default_unit
    if unit is None:
        return int(round(num))
    range_key = unit[0].upper()
    if range_key not in SIZE_RANGES:
        raise FilterError(f"human_to_bytes() failed to convert {number} (unit = {unit}). The suffix must be one of {', '.join(SIZE_RANGES)}")
    unit_class, unit_class_name = ("b", "bit") if isbits else ("B", "byte")
    if len(unit) > 1:
        expect = f"expect {unit_class} or {unit_class_name}" if range_key == "B" else f"expect {range_key}{unit_class} or {range_key}"
        group = VALID_UNITS[range_key][1 if isbits else 0]
        if unit.lower() != group[0] and unit != group[1]:
            raise FilterError(f"human_to_bytes() failed to convert {number}. Value is not a valid string ({expect})")
    return int(round(num * SIZE_RANGES[range_key]))


@jinja2.pass_environment
def extract(environment: jinja2.Environment, item: Any, container: Any, morekeys: Any = None) -> Any:
    keys = [item] if morekeys is None else [item, *morekeys] if isinstance(morekeys, list) else [item, morekeys]
    value = container
    for key in keys:
        value = environment.getitem(value, key)
    return value


def strftime(string_format: str, second: Any = None, utc: bool = False) -> str:
    timefn = time.gmtime if utc else time.localtime
    if second is not None:
        try:
            second = float(second)
        except (TypeError, ValueError):
            raise FilterError(f"Invalid value for epoch value ({second})") from None
    return time.strftime(string_format, timefn(second))


def now(utc: bool = False, fmt: str | None = None) -> Any:
    """The ``now()`` global (_jinja_plugins.py ``_now``): a naive datetime, local or UTC, or its strftime."""
    moment = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) if utc else datetime.datetime.now()
    return moment.strftime(fmt) if fmt else moment


def rand(end: Any, start: Any = None, step: Any = None, seed: Any = None) -> Any:
    """core.py ``rand`` (the ``random`` filter), with a seed only: ``Random(seed)`` gives ansible-core's value.

    Without a seed ansible-core draws from SystemRandom, a new value on every run;
    a plan made of such a value would never be the same twice, so exconf asks for one.
    """
    if seed is None:
        raise FilterError("random without seed= gives another value on every run, so no two plans would agree; give it a seed (random(seed=inventory_hostname))")
    r = _random.Random(seed)
    if isinstance(end, int) and not isinstance(end, bool):
        return r.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        if start or step:
            raise FilterError("start and step can only be used with integer values")
        return r.choice(list(end) if not isinstance(end, (list, tuple, str)) else end)
    raise FilterError("random can only be used on sequences and integers")


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": to_bool,
    "mandatory": mandatory,
    "ternary": ternary,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "regex_findall": regex_findall,
    "regex_escape": regex_escape,
    "to_json": to_json,
    "to_nice_json": to_nice_json,
    "from_json": from_json,
    "to_yaml": to_yaml,
    "to_nice_yaml": to_nice_yaml,
    "from_yaml": from_yaml,
    "from_yaml_all": from_yaml_all,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "basename": lambda v: posixpath.basename(_text(v)),
    "dirname": lambda v: posixpath.dirname(_text(v)),
    "win_basename": lambda v: ntpath.basename(_text(v)),
    "win_dirname": lambda v: ntpath.dirname(_text(v)),
    "win_splitdrive": win_splitdrive,
    "splitext": lambda v: list(posixpath.splitext(_text(v))),
    "quote": quote,
    "combine": combine,
    "dict2items": dict2items,
    "items2dict": items2dict,
    "flatten": flatten,
    "unique": unique,
    "union": union,
    "intersect": intersect,
    "difference": difference,
    "symmetric_difference": symmetric_difference,
    "zip": lambda *lists: [list(t) for t in zip(*lists, strict=False)],  # the shortest, as Python's (and Ansible's) zip
    "zip_longest": lambda *lists, fillvalue=None: [list(t) for t in itertools.zip_longest(*lists, fillvalue=fillvalue)],
    "split": split,
    "type_debug": type_debug,
    "hash": get_hash,
    "to_uuid": to_uuid,
    "human_to_bytes": human_to_bytes,
    "extract": extract,
    "strftime": strftime,
    "random": rand,
    # ansible-core's variables are its lazy lists and dicts, whose own repr pprint prints (in order, on one line)
    "pprint": lambda value: repr(value) if isinstance(value, (dict, list)) else pprint.pformat(value),
}


# ---- tests (ansible/plugins/test/core.py) -----------------------------------------------------


def _semver_key(ident: str) -> tuple[int, Any]:
    return (0, int(ident)) if ident.isdigit() else (1, ident)


_SEMVER = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_STRICT = re.compile(r"^(\d+) \. (\d+) (\. (\d+))? ([ab](\d+))?$", re.VERBOSE | re.ASCII)
_LOOSE = re.compile(r"(\d+ | [a-z]+ | \.)", re.VERBOSE)


def _loose(text: str) -> list[Any]:
    """distutils' LooseVersion (module_utils/compat/version.py): numbers and letter runs, compared as a list."""
    return [int(x) if x.isdigit() else x for x in _LOOSE.split(text) if x and x != "."]


def _strict(text: str) -> tuple[Any, ...]:
    m = _STRICT.match(text)
    if not m:
        raise ValueError(f"invalid version number '{text}'")
    major, minor, patch, pre, pre_num = m.group(1, 2, 4, 5, 6)
    version = (int(major), int(minor), int(patch or 0))
    # no prerelease sorts after any prerelease of the same version
    return version + ((0, pre[0], int(pre_num)) if pre else (1, "", 0),)


def _semver(text: str) -> tuple[Any, ...]:
    m = _SEMVER.match(text)
    if not m:
        raise ValueError(f"invalid semantic version '{text}'")
    core = (int(m.group("major")), int(m.group("minor")), int(m.group("patch")))
    pre = m.group("pre")
    # a release sorts after its prereleases; build metadata is ignored (semver.org items 9-11)
    return core + ((0, tuple(_semver_key(p) for p in pre.split("."))) if pre else (1, ()),)


def _pep440(text: str) -> Any:
    try:
        from packaging.version import Version
    except ImportError:
        raise FilterError("The pep440 version_type requires the Python 'packaging' library") from None
    return Version(text)


_VERSION_TYPES: dict[str, Callable[[str], Any]] = {"loose": _loose, "strict": _strict, "semver": _semver, "semantic": _semver, "pep440": _pep440}
_OPERATORS = {"==": "eq", "=": "eq", "eq": "eq", "<": "lt", "lt": "lt", "<=": "le", "le": "le", ">": "gt", "gt": "gt", ">=": "ge", "ge": "ge", "!=": "ne", "<>": "ne", "ne": "ne"}


def version_compare(value: Any, version: Any, operator: str = "eq", strict: Any = None, version_type: str | None = None) -> bool:
    """test/core.py ``version_compare`` (the ``version`` test)."""
    if strict is not None and version_type is not None:
        raise FilterError("Cannot specify both 'strict' and 'version_type'")
    if not value:
        raise FilterError("Input version value cannot be empty")
    if not version:
        raise FilterError("Version parameter to compare against cannot be empty")
    parse: Callable[[str], Any] = _loose
    if strict:
        parse = _strict
    elif version_type:
        if version_type not in _VERSION_TYPES:
            raise FilterError(f"Invalid version type ({version_type}). Must be one of {', '.join(map(repr, _VERSION_TYPES))}")
        parse = _VERSION_TYPES[version_type]
    if operator not in _OPERATORS:
        raise FilterError(f"Invalid operator type ({operator}). Must be one of {', '.join(map(repr, _OPERATORS))}")
    try:
        return bool(getattr(py_operator, _OPERATORS[operator])(parse(_text(value)), parse(_text(version))))
    except FilterError:
        raise
    except Exception as exc:
        raise FilterError(f"Version comparison failed: {exc}") from None


def _regex_test(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False, match_type: str = "search") -> bool:
    valid = ("match", "search", "fullmatch")
    if match_type not in valid:
        raise FilterError(f"Invalid match_type specified. Expected one of: {', '.join(valid)}.")
    if not isinstance(value, str):
        raise FilterError(f"Value {type(value).__name__!r} is not a string.")
    return getattr(re, match_type)(pattern, value, _flags(ignorecase, multiline)) is not None


def _truthy(value: Any, convert_bool: bool = False) -> bool:
    if convert_bool:
        converted = to_bool(value)
        value = bool(converted) if converted is not None else value
    return bool(value)


TESTS: dict[str, Callable[..., bool]] = {
    "match": lambda v, pattern="", ignorecase=False, multiline=False: _regex_test(v, pattern, ignorecase, multiline, "match"),
    "search": lambda v, pattern="", ignorecase=False, multiline=False: _regex_test(v, pattern, ignorecase, multiline, "search"),
    "regex": _regex_test,
    "truthy": _truthy,
    "falsy": lambda v, convert_bool=False: not _truthy(v, convert_bool),
    "contains": lambda seq, value: value in seq,
    "version": version_compare,
    "version_compare": version_compare,
}

# Names under which ansible-core also offers every filter and test, built-in Jinja ones included
# (ansible-lint's fqcn rule asks for ansible.builtin.*).
NAMESPACES = ("ansible.builtin.", "ansible.legacy.")
