"""What the SQLite full-text index is given for a text: the text, plus its words unstemmed.

FTS5's porter tokenizer indexes stems only ("breaking" -> "break"), so a prefix being
typed ("breaki", "breakin") matched nothing: no stem starts with it. Each word of four
letters or more is therefore indexed a second time with a digit after it
("breaking0"): porter leaves a word ending in a digit alone (no suffix rule ends in
one), so that token keeps the whole word, and a prefix query ("breaki"*) finds it.
Shorter words need no copy: any prefix of a 3-letter word is its stem or a prefix of it.
Numbers are left alone (no copy), so "420" never matches "42".

`kurrent_fts_words(text)` is registered on every SQLite connection Django opens
(kurrent.apps), and the triggers of migration 0013 call it. PostgreSQL does the same
with a 'simple' (unstemmed) vector beside the English one, in SQL.
"""

from __future__ import annotations

import re
from typing import Any

MARK = "0"
MIN_LENGTH = 4
SQL_NAME = "kurrent_fts_words"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # unicode61's tokens: letters and digits


def fts_words(text: str | None) -> str:
    """`text`, then each distinct alphabetic word of MIN_LENGTH+ letters with MARK after it."""
    if not text:
        return ""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text):
        if len(word) >= MIN_LENGTH and word.isalpha():
            seen.setdefault(word.lower(), None)
    if not seen:
        return text
    return text + " " + " ".join(word + MARK for word in seen)


def register(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
    """connection_created receiver: give a new SQLite connection kurrent_fts_words()."""
    if connection is not None and connection.vendor == "sqlite":
        connection.connection.create_function(SQL_NAME, 1, fts_words, deterministic=True)
