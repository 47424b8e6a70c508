"""A command line split into words as a POSIX shell would (``shlex.split``'s rules),
in one pass: ``shlex`` grows each word a character at a time by string
concatenation, quadratic in the word's length, so a 100,000-character line took
seconds."""

from __future__ import annotations

WHITESPACE = " \t\r\n"  # shlex's


def split(line: str) -> list[str]:
    """The words of ``line``; ValueError for an unclosed quote or a final backslash
    (shlex's messages)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False  # a word has begun (an empty quoted one counts)
    i, end = 0, len(line)
    while i < end:
        char = line[i]
        if char in WHITESPACE:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if char == "\\":
            if i + 1 == end:
                raise ValueError("No escaped character")
            word.append(line[i + 1])
            i += 2
        elif char == "'":
            close = line.find("'", i + 1)
            if close < 0:
                raise ValueError("No closing quotation")
            word.append(line[i + 1 : close])
            i = close + 1
        elif char == '"':
            i = _double_quoted(line, i + 1, word)
        else:
            i += 1
            word.append(char)
    if in_word:
        words.append("".join(word))
    return words


def _double_quoted(line: str, i: int, word: list[str]) -> int:
    """Inside double quotes from ``i``: a backslash escapes only ``"`` and ``\\``
    (else it stays); the index after the closing quote."""
    end = len(line)
    while i < end:
        char = line[i]
        if char == '"':
            return i + 1
        if char == "\\":
            if i + 1 == end:
                raise ValueError("No escaped character")
            following = line[i + 1]
            word.append(following if following in '"\\' else "\\" + following)
            i += 2
        else:
            word.append(char)
            i += 1
    raise ValueError("No closing quotation")
