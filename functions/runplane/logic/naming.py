"""Run names generated from the prompt when the caller gives none."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_][\w'\u2019-]*")
_TRAILING = {"a", "an", "the", "in", "on", "of", "to", "for", "and", "or", "with", "at", "by", "from", "into"}
_FILLER = {"please", "can", "could", "you", "would", "kindly", "hey", "hi", "hello", "i", "want", "to", "me"}


_CLAUSE_END = re.compile(r"[.:;?!\n]")


def name_from_prompt(prompt: str | None, max_words: int = 6, max_chars: int = 60) -> str:
    """A short, readable name: the first words of the prompt's first clause."""
    text = (prompt or "").strip()
    first_clause = _CLAUSE_END.split(text, maxsplit=1)[0]
    if len(_WORD.findall(first_clause)) >= 2:
        text = first_clause
    words = _WORD.findall(text)
    while words and words[0].lower() in _FILLER:
        words.pop(0)
    if not words:
        return "Untitled run"
    picked: list[str] = []
    for word in words[:max_words]:
        if len(" ".join([*picked, word])) > max_chars:
            break
        picked.append(word)
    while len(picked) > 1 and picked[-1].lower() in _TRAILING:
        picked.pop()
    name = " ".join(picked) or words[0][:max_chars]
    return name[0].upper() + name[1:]
