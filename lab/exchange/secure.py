"""Values of contract v2 that are not JSON scalars: SecureString and byte[] parameters.

The remote program turns ``{"exconf_secret": …}`` into a System.Security.SecureString
and ``{"exconf_bytes": …}`` into a byte[] (docs/remote-contract.md); the lab passes
these Python stand-ins to its cmdlets. A SecureString's text is readable only through
:meth:`SecureString.reveal` (what Exchange does when it decrypts a PFX); its str() is
what .NET's ToString() prints, so no message can echo it.
"""

from __future__ import annotations

from typing import Any

from .param_types import PType
from .ps_conversion import ConversionError, describe, no_cast_error


class SecureString:
    __slots__ = ("_text",)

    def __init__(self, text: str):
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __str__(self) -> str:  # Object.ToString() of a SecureString
        return "System.Security.SecureString"

    def __repr__(self) -> str:
        return "SecureString(********)"


class SecureStringType(PType):
    """A System.Security.SecureString parameter: PowerShell converts nothing else to it."""

    dotnet = "System.Security.SecureString"

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, SecureString):
            return value
        if isinstance(value, str):
            # Never show the text: a string given where a SecureString belongs may be a password.
            raise ConversionError(
                'Cannot convert the "System.String" value of type "System.String" to type "System.Security.SecureString".'
            )
        raise no_cast_error(value, self.dotnet)


class BytesType(PType):
    """A System.Byte[] parameter: a byte array, or an array of numbers 0..255 as PowerShell converts it."""

    dotnet = "System.Byte[]"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        items = value if isinstance(value, (list, tuple)) else [value]
        out = bytearray()
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 255:
                raise ConversionError(
                    f'Cannot convert value "{describe(value)}" to type "System.Byte[]". Error: "Cannot convert value '
                    f'"{describe(item)}" to type "System.Byte". Error: "Input string was not in a correct format.""'
                )
            out.append(item)
        return bytes(out)


SECURE_STRING = SecureStringType()
BYTES = BytesType()
