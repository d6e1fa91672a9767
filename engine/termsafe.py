"""Text that is safe to print on a terminal: no control, bidi or invisible formatting characters.

Server answers and inventory names can hold anything: an ESC sequence that
clears the screen or forges a line, U+202E that reverses what follows, U+2028
that breaks a line where none is. Each such character is shown as an escape
(``\\x1b``, ``\\u202e``), so what the user reads is what the text holds. JSON
output never goes through this: it stays exact.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls (but tab and newline, which layout uses), DEL, line/paragraph
# separators, bidi embeddings/overrides/isolates and marks, zero-width characters.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str, *, newlines: bool = True) -> str:
    """``text`` with every unsafe character escaped; newlines kept unless ``newlines`` is False."""
    out = _UNSAFE.sub(_escape, text)
    # Lone surrogates and other unassigned format characters (category Cf/Cs) are escaped too; ASCII has none
    # (its controls are Cc, escaped above), so ASCII text, most of what is printed, skips the per-character pass.
    if not out.isascii():
        out = "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cs", "Cf") and ch not in "\n\t" else ch for ch in out)
    if not newlines:
        out = out.replace("\n", "\\n").replace("\t", "\\t")
    return out
