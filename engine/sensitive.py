"""Values that must never be shown: decrypted vault data and what is rendered from it.

``Sensitive`` is a ``str`` so that the connection code can use it as the
password it is, but its ``repr`` is a mask, so an error message built with
``{value!r}`` or a dataclass ``repr`` cannot leak it; printers test
``is_sensitive`` and show ``MASK`` instead of the text.
"""

from __future__ import annotations

from typing import Any

MASK = "********"


class Sensitive(str):
    """A secret text: behaves as ``str``, prints as a mask in ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{MASK}'"


class VaultText(Sensitive):
    """A ``!vault`` value: sensitive, and used exactly as written (never rendered as a template)."""

    __slots__ = ()


def is_sensitive(value: Any) -> bool:
    """True for a Sensitive value, or a list/mapping that holds one anywhere."""
    if isinstance(value, Sensitive):
        return True
    if isinstance(value, dict):
        return any(is_sensitive(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_sensitive(v) for v in value)
    return False


def masked(value: Any) -> Any:
    """A copy of ``value`` with every Sensitive text replaced by MASK (for display and JSON)."""
    if isinstance(value, Sensitive):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, tuple):
        return tuple(masked(v) for v in value)
    return value


def mark(value: Any) -> Any:
    """``value`` with every text in it made Sensitive (a vault-decrypted file is secret throughout)."""
    if isinstance(value, Sensitive):
        return value
    if isinstance(value, str):
        return Sensitive(value)
    if isinstance(value, dict):
        return {k: mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark(v) for v in value]
    return value
