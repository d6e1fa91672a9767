"""psrpcore's hottest paths in the lab, made cheap without changing what they return.

The lab reads every CREATE_PIPELINE and writes every answer through psrpcore 0.3, and a profile of
the lab serving a 200-server plan (py-spy ``--gil``) put a fifth of its CPU in three places that do
work for nothing on almost every call, and one of its apply another tenth in two more:

* ``PSObject.__getattribute__`` builds a dict of all the object's properties on *every* attribute
  read (``__class__`` for each isinstance(), methods, fields), then uses it only when the normal
  lookup fails: 12.8 % of the lab. Here the normal lookup comes first and the properties are searched
  only when it fails, with the same precedence (an extended property over an adapted one of the same
  name, the last of a name over the first) and the same ``__dict__``.
* ``_serialize_string`` runs two ``re.sub`` per string written, with a closure made per call: 6.8 %.
  A string with no ``_x``/``_X`` and no character to escape is returned as it is, which is what the
  two substitutions return for it; any other string goes through psrpcore's own function.
* ``_deserialize_string`` encodes every string read to UTF-16, substitutes on the bytes and decodes:
  2.2 %. A string with no ``_x`` has nothing to unescape (MS-PSRP 2.2.5.3.2: an escape is
  ``_xHHHH_``) and is returned as it is. (psrpcore's byte pattern can also match across character
  boundaries, in strings of CJK characters with no ``_x`` at all; Windows PowerShell reads
  characters, so the fast path is the one that answers as Windows does.)
* ``PSObject.__init__`` builds two dicts and three lists of the object's properties to check the
  arguments it is given; every integer and enum read (a CREATE_PIPELINE's commands hold eight
  ``PipelineResultTypes`` each) calls it with none: 6 % of an apply. Given none, it has nothing to set
  and fails only if a property is mandatory, so an object with no mandatory property returns at once.
* ``PSObject.__setattr__`` formats two attribute names and looks both up on every assignment; the
  same search, extended properties before adapted ones, without them.
* ``PSPropertyInfo.__init__``, given a value, makes a whole ``PSObject()`` to pass to ``set_value``,
  which uses it only to call a setter; a note property has none, and reading a CREATE_PIPELINE makes
  one per property of every object it holds: a tenth of an apply (issue 20). Without a getter or a
  setter, and with psrpcore's own ``set_value``, the value is cast and kept as ``set_value`` does,
  without the throwaway object.

``install()`` is called by every lab's remote PowerShell endpoint (resource.py); it replaces the six
in psrpcore's modules, once per process, and only the functions of the psrpcore it was written for.
tests/lab/test_psrpcore_paths.py checks each against psrpcore's own on the same inputs.
"""

from __future__ import annotations

import threading
from typing import Any

import psrpcore.types._base as _base
import psrpcore.types._serializer as _serializer

PSObject = _base.PSObject
PSPropertyInfo = _base.PSPropertyInfo
_UnsetValue = _base._UnsetValue
ORIGINAL_PROPERTY_INIT = PSPropertyInfo.__init__
ORIGINAL_SET_VALUE = PSPropertyInfo.set_value
ORIGINAL_GETATTRIBUTE = PSObject.__getattribute__
ORIGINAL_INIT = PSObject.__init__
ORIGINAL_SETATTR = PSObject.__setattr__
ORIGINAL_SERIALIZE_STRING = _serializer._serialize_string
ORIGINAL_DESERIALIZE_STRING = _serializer._deserialize_string

_ESCAPE = _serializer._STRING_SERIAL_ESCAPE  # psrpcore's own pattern of what must be escaped
_install_lock = threading.Lock()


def getattribute(self: Any, item: str) -> Any:
    """``PSObject.__getattribute__`` as psrpcore 0.3 answers it, the properties searched only when needed."""
    try:
        val = super(PSObject, self).__getattribute__(item)
    except AttributeError:
        meta = super(PSObject, self).__getattribute__("PSObject")
        found = None
        for prop in meta.adapted_properties:
            if prop.name == item:
                found = prop
        for prop in meta.extended_properties:
            if prop.name == item:
                found = prop
        if found is None:
            raise
        return found.get_value(self)
    if item == "__dict__":  # psrpcore's view for vars()/dir(): the Python attributes and the properties
        meta = super(PSObject, self).__getattribute__("PSObject")
        props = {p.name: p for p in meta.adapted_properties}
        props.update({p.name: p for p in meta.extended_properties})
        val = val.copy()
        val.update({name: prop.get_value(self) for name, prop in props.items()})
    return val


def init(self: Any, *args: Any, **kwargs: Any) -> None:
    """``PSObject.__init__``, at once for no arguments and no mandatory property (psrpcore's sets nothing then)."""
    if not args and not kwargs:
        meta = self.PSObject
        if not any(p.mandatory for p in meta.adapted_properties) and not any(p.mandatory for p in meta.extended_properties):
            return
    ORIGINAL_INIT(self, *args, **kwargs)


def setattribute(self: Any, key: str, value: Any) -> None:
    """``PSObject.__setattr__``: a Python attribute already set, or ``PSObject``, is set as it is; else the first
    extended property of that name takes the value, then the first adapted one, then a new Python attribute."""
    if key != "PSObject" and key not in super(PSObject, self).__getattribute__("__dict__"):
        meta = self.PSObject
        for prop in meta.extended_properties:
            if prop.name == key:
                prop.set_value(value, self)
                return
        for prop in meta.adapted_properties:
            if prop.name == key:
                prop.set_value(value, self)
                return
    super(PSObject, self).__setattr__(key, value)


def property_init(self: Any, name: str, mandatory: bool = False, ps_type: type | None = None, value: Any = _UnsetValue,
                  getter: Any = None, setter: Any = None) -> None:
    """``PSPropertyInfo.__init__``; without a getter or a setter, a value is kept as psrpcore's ``set_value``
    keeps it (cast to ``ps_type``), without the ``PSObject()`` it makes for a setter there is none of."""
    if getter or setter or type(self).set_value is not ORIGINAL_SET_VALUE:
        ORIGINAL_PROPERTY_INIT(self, name, mandatory, ps_type, value, getter, setter)
        return
    self.name = name
    self.ps_type = ps_type
    self.mandatory = mandatory
    self._value = _UnsetValue
    self._getter = None
    self._setter = None
    if value != _UnsetValue:
        self._value = self._cast(value)


def serialize_string(value: str) -> str:
    """psrpcore's ``_serialize_string``, skipped for a plain ``str`` it would return unchanged (a str subclass,
    such as psrpcore's PSString, still goes through it: ``re.sub`` gives back a plain str)."""
    if value.__class__ is str and "_x" not in value and "_X" not in value and _ESCAPE.search(value) is None:
        return value
    return ORIGINAL_SERIALIZE_STRING(value)


def deserialize_string(value: str) -> str:
    """psrpcore's ``_deserialize_string``, skipped for a string with no escape in it (anything else, even a
    missing text, goes through psrpcore's own function and fails as it does)."""
    if value.__class__ is str and "_x" not in value:
        return value
    return ORIGINAL_DESERIALIZE_STRING(value)


def install() -> bool:
    """Put the six in psrpcore's place; True if they are in place (now or before). Leaves a psrpcore
    whose functions are not the ones these were written for as it is."""
    with _install_lock:
        if installed():
            return True
        if (ORIGINAL_GETATTRIBUTE.__qualname__ != "PSObject.__getattribute__"
                or ORIGINAL_INIT.__qualname__ != "PSObject.__init__"
                or ORIGINAL_SETATTR.__qualname__ != "PSObject.__setattr__"
                or ORIGINAL_PROPERTY_INIT.__qualname__ != "PSPropertyInfo.__init__"
                or ORIGINAL_SET_VALUE.__qualname__ != "PSPropertyInfo.set_value"
                or ORIGINAL_SERIALIZE_STRING.__module__ != "psrpcore.types._serializer"
                or ORIGINAL_DESERIALIZE_STRING.__module__ != "psrpcore.types._serializer"):
            return False
        PSObject.__getattribute__ = getattribute  # type: ignore[method-assign]
        PSObject.__init__ = init  # type: ignore[method-assign]
        PSObject.__setattr__ = setattribute  # type: ignore[method-assign]
        PSPropertyInfo.__init__ = property_init  # type: ignore[method-assign]
        _serializer._serialize_string = serialize_string
        _serializer._deserialize_string = deserialize_string
        return True


def installed() -> bool:
    return (PSObject.__getattribute__ is getattribute  # type: ignore[comparison-overlap]
            and PSObject.__init__ is init  # type: ignore[comparison-overlap]
            and PSObject.__setattr__ is setattribute  # type: ignore[comparison-overlap]
            and PSPropertyInfo.__init__ is property_init  # type: ignore[comparison-overlap]
            and _serializer._serialize_string is serialize_string
            and _serializer._deserialize_string is deserialize_string)
