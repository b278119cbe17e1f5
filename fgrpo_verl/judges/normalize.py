"""Undo the Unicode tricks that hide text from a pattern matcher, before screening or fencing it.

Two views of one text:

- :func:`visible_text` — what a reader sees: NFKC (full-width and other compatibility forms
  become ASCII: ``ＩＧＮＯＲＥ`` → ``IGNORE``), zero-width, soft-hyphen and bidi-control
  characters removed, and bracket look-alikes (``‹ › « » 〈 〉 ≪ ≫ ⟨ ⟩ ❮ ❯`` …) turned into
  ``<`` / ``>`` so that a look-alike fence *is* a fence. Scripts are kept (Chinese stays Chinese).
- :func:`skeleton` — :func:`visible_text` with Cyrillic/Greek/other letters that look like Latin
  ones replaced by those Latin letters (``іgnоrе`` written with Cyrillic і/о/е → ``ignore``),
  a hand-made subset of Unicode's confusables table covering the letters of the words screened.

Both are linear in the text and leave plain ASCII unchanged.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width characters, soft hyphen, joiners, word joiner, invisible operators, BOM, Mongolian
# vowel separator, combining grapheme joiner, and the bidi embedding/override/isolate controls.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)

# Bracket look-alikes NFKC leaves alone; doubled forms map to two brackets.
_BRACKETS = str.maketrans(
    {
        **dict.fromkeys("‹〈⟨❮❬❰˂ᐸ⧼〈⦑⧀⋖", "<"),
        **dict.fromkeys("›〉⟩❯❭❱˃ᐳ⧽〉⦒⧁⋗", ">"),
        "«": "<<",
        "»": ">>",
        "≪": "<<",
        "《": "<<",
        "》": ">>",
        "≫": ">>",
        "⟪": "<<",
        "⟫": ">>",
        "⋘": "<<<",
        "⋙": ">>>",
    }
)

# Letters that render like Latin ones (Cyrillic, Greek, Armenian, Latin small capitals and IPA).
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic lower case
        "а": "a", "в": "b", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m", "н": "h",
        "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q",
        "ԝ": "w", "ɡ": "g", "ӏ": "l", "ү": "y", "ѵ": "v", "ё": "e", "ї": "i",
        # Cyrillic upper case
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
        "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D", "Ү": "Y", "Ԛ": "Q",
        "Ԝ": "W", "Ӏ": "I",
        # Greek
        "α": "a", "ο": "o", "ρ": "p", "ν": "v", "υ": "u", "ι": "i", "κ": "k", "τ": "t", "χ": "x",
        "ε": "e", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        # Armenian and Latin extensions
        "օ": "o", "ս": "u", "ց": "g", "հ": "h", "ո": "n", "ɑ": "a", "ı": "i", "ȷ": "j", "ʏ": "y",
        "ɪ": "i", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j",
        "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
        "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z",
    }
)  # fmt: skip


def visible_text(text: str) -> str:
    """NFKC, invisible characters removed, bracket look-alikes as ASCII ``<``/``>`` (see module docstring)."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text).translate(_BRACKETS)


def skeleton(text: str) -> str:
    """:func:`visible_text` with Latin look-alike letters folded to Latin."""
    text = visible_text(text)
    return text if text.isascii() else text.translate(_CONFUSABLES)
