"""Topic terms: a written term (`S-400`, `=NATO`, `sanction*`) as the pattern that finds it in
folded text, and the word chunks that must be present for it to occur at all. Pure.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from newswatch.parse.text import fold

Path_ = tuple[str | int, ...]


class _Invalid(Exception):
    """A rule problem found below the topic level; re-raised as TopicRuleError."""

    def __init__(self, message: str, path: Path_ = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"


_DASH = f"[{_DASHES}]"


# Between letters and digits of one term: a dash, a space or nothing (S-400, S400, S 400).
_SEP_OPTIONAL = f"(?:\\s*{_DASH}\\s*|\\s+)?"


# Quotation marks of every kind: a phrase's words may stand in them ("ЧВК «Вагнер»", how
# Russian papers write the name; 'Black “Sea”').
_QUOTES = "\"'\u00ab\u00bb\u201e\u201c\u201d\u201a\u2018\u2019\u2039\u203a"


# Between two words of a phrase: spaces or a dash (air defence, air-defence), and any
# quotation marks among the spaces (ЧВК «Вагнер», Black “Sea”).
_SEP_REQUIRED = f"(?:[\\s{_QUOTES}]*{_DASH}[\\s{_QUOTES}]*|[\\s{_QUOTES}]+)"


_APOSTROPHE = "['\u2018\u2019\u02bc`\u00b4]"


_TERM_TOKENS = re.compile(f"\\w+|\\s+|{_DASH}+|{_APOSTROPHE}|[^\\w\\s]")


_ALNUM_RUNS = re.compile(r"[^\W\d_]+|\d+|_+")


class Regex:
    """A regular expression of a compiled watch list: compiled when the list is compiled (so a
    bad pattern is found then), pickled as its source alone, and compiled again by a process
    that unpickles it only when it is first used.

    The compiled-topics cache (compiled_cache) hands every command and shard process a
    pickled matcher; unpickling compiled every one of its ~900 regexes (~80 ms of CPU per
    process, measured here, on the start-up path of each command), most of which a run
    never uses: a term's regex runs only when the term's words are all in the text.
    """

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str, compiled: re.Pattern[str] | None = None) -> None:
        self.source = source
        self._compiled = compiled

    def __reduce__(self) -> tuple[type[Regex], tuple[str]]:
        return (Regex, (self.source,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Regex({self.source!r})"

    @staticmethod
    def compile(source: str) -> Regex:
        return Regex(source, re.compile(source))

    @property
    def compiled(self) -> re.Pattern[str]:
        found = self._compiled
        if found is None:
            found = self._compiled = re.compile(self.source)
        return found

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(text)


_ASCII_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|_+")  # the same runs in ASCII text, twice as fast


# ASCII characters that end a run of letters, digits or underscores, mapped to a space.
_ASCII_BREAKS = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)


def ascii_runs(text: str) -> set[str]:
    """The distinct runs `_ASCII_RUNS` finds in ASCII `text`, ~3x faster (a title, summary
    and 3 KB body: 105 -> 33 us, measured here):
    the text split into words at everything else, and only the few words that mix letters,
    digits and underscores split again by the regex."""
    out: set[str] = set()
    for word in set(text.translate(_ASCII_BREAKS).split()):
        if word.isalpha():
            out.add(word)
        else:
            out.update(_ASCII_RUNS.findall(word))
    return out


# Endings written after an apostrophe (Russia's, it's, don't, we'd, I'm, we'll, they're,
# we've): a term starting with one of these never starts right after "letter + apostrophe".
# Elisions before a word ("l'OTAN", "d'Ankara") are different: there the term follows.
_CLITICS = frozenset({"s", "t", "d", "m", "ll", "re", "ve"})
# Elided articles longer than one letter, after which a term starts (Italian "dell'S-400",
# "all'S-400"), besides the one-letter ones ("l'", "d'").
_ELIDED_LONG = ("dell", "dall", "nell", "sull", "all", "coll", "quell", "quest", "qu")


@dataclass(frozen=True, slots=True)
class _Term:
    written: str  # the term as the user wrote it, without the `=` marker
    case_sensitive: bool
    pattern: str  # regex source over lower-case folded text
    folded_re: Regex
    exact_re: Regex | None  # case-kept regex, checked on each hit's original text
    # Runs of letters or digits that any match must contain in the folded text; plain
    # substring tests on these skip the regex for almost every article.
    chunks: tuple[str, ...]
    # The same, as whole runs of the text: every chunk but a wildcard's last one is a
    # complete run of letters (or of digits) there; that last one begins a run.
    whole_runs: tuple[str, ...]
    run_prefix: str | None
    # The first run of a term in Arabic script, which the text may write with attached
    # prefixes ("وتركيا", "بالناتو"): it is looked for as a substring, not as a whole run.
    contains: str | None = None

    @property
    def anchor(self) -> str:
        """The chunk least likely to turn up by chance: the longest, digits first."""
        return max(self.chunks, key=lambda c: (len(c) + c.isdigit(), c))

    def may_occur(self, present: _ChunkPresence) -> bool:
        runs = present.runs()
        for run in self.whole_runs:
            if run not in runs:
                return False
        if self.contains is not None and self.contains not in present.text:
            return False
        return self.run_prefix is None or present.has_run_starting(self.run_prefix)

    def render(self) -> str:
        text = f'"{self.written}"' if re.search(r"[\s()\"]", self.written) else self.written
        return f"={text}" if self.case_sensitive else text


class _ChunkPresence:
    """The runs of letters and of digits in an article's folded text, found once (only for
    articles past the gate): each term then costs a set look-up, not a scan of the text."""

    __slots__ = ("_heads", "_prefixes", "_runs", "_sorted", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._runs: frozenset[str] | None = None
        self._sorted: list[str] | None = None
        self._heads: frozenset[str] | None = None
        self._prefixes: dict[str, bool] = {}

    def runs(self) -> frozenset[str]:
        if self._runs is None:
            if self.text.isascii():
                self._runs = frozenset(ascii_runs(self.text))
            else:
                self._runs = frozenset(_ALNUM_RUNS.findall(self.text))
        return self._runs

    def heads(self) -> frozenset[str]:
        """The first `_HEAD` characters of every run (whole runs if shorter)."""
        if self._heads is None:
            self._heads = frozenset(run[:_HEAD] for run in self.runs())
        return self._heads

    def has_run_starting(self, prefix: str) -> bool:
        known = self._prefixes.get(prefix)
        if known is None:
            if self._sorted is None:
                self._sorted = sorted(self.runs())
            i = bisect.bisect_left(self._sorted, prefix)
            known = i < len(self._sorted) and self._sorted[i].startswith(prefix)
            self._prefixes[prefix] = known
        return known


# Arabic writes conjunctions (و "and", ف "so"), prepositions (ب "in/with", ل "for", ك "like")
# and the article ال as part of the next word: "وتركيا", "بتركيا", "لتركيا", "بالناتو",
# "للناتو" (ل + ال + ناتو). A term in Arabic script matches after any of these.
_AR_CONJ = ("", "و", "ف")


_AR_PREP = ("", "ب", "ل", "ك")


def _ar_prefixes(article: bool) -> list[str]:
    """Attached prefixes before an Arabic word: with the article ال (required when the term
    was written with it), or any combination of conjunction, preposition and article."""
    out = set()
    for conj in _AR_CONJ:
        for prep in _AR_PREP:
            for art in ("ال",) if article else ("", "ال"):
                out.add(conj + ("لل" if prep == "ل" and art else prep + art))
    out.discard("")
    return sorted(out, key=lambda p: (-len(p), p))


_AR_ANY_PREFIX = "|".join(_ar_prefixes(False))


_AR_ARTICLE_PREFIX = "|".join(_ar_prefixes(True))


# Hebrew writes "and" (ו), "that" (ש), "in" (ב), "to" (ל), "from" (מ), "as" (כ) and the
# article ה as part of the next word: "בטורקיה", "ונאט"ו", "לטורקיה". A term in Hebrew
# script matches after them.
_HE_PREFIX = "[וש]?(?:מה|[בלמכה])?"


def _is_hebrew(ch: str) -> bool:
    return "\u05d0" <= ch <= "\u05ea"


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\u08a0" <= ch <= "\u08ff"


def _arabic_core(run: str) -> str:
    """The first run of an Arabic term as the text may contain it under a prefix: without
    its article ("الناتو" -> "ناتو"), which "للناتو" does not spell out."""
    return run[2:] if run.startswith("ال") and len(run) > 2 else run


# What gives a term away as a regular expression: a backslash (`\s`, `\b`), `.*` or `.+`,
# alternatives (`a|b`), a character class (`[abc]`), an anchor at the start (`^`).
_REGEX_SIGNS = re.compile(r"\\.?|\.[*+?]|\||\[[^\]]*\]|^\^|\(\?")


def _term_pattern(folded: str, written: str | None = None) -> str:
    """Regex source for one term, already folded (the same way article text is);
    `written`: the term as the user wrote it, for the errors."""
    shown = folded if written is None else written
    wildcard = folded.endswith("*")
    body = folded[:-1] if wildcard else folded
    if "*" in body:
        raise _Invalid(
            f"'*' is only allowed at the end of a term: {shown!r} (a phrase takes one "
            "wildcard, on its last word)"
        )
    tokens = _TERM_TOKENS.findall(body.strip())
    if not any(t[0].isalnum() for t in tokens):
        raise _Invalid(f"a term needs at least one letter or digit: {shown!r}")
    out: list[str] = []
    prev_kind = ""  # "alpha", "digit", "sep", "punct"
    pending_sep = False
    for tok in tokens:
        if tok[0].isspace() or re.fullmatch(f"{_DASH}+", tok):
            pending_sep = True
            continue
        if tok[0] == "_" or tok[0].isalnum():
            for run in _ALNUM_RUNS.findall(tok):
                kind = "digit" if run[0].isdigit() else "alpha"
                if prev_kind in ("alpha", "digit"):
                    if kind != prev_kind:
                        out.append(_SEP_OPTIONAL)
                    elif pending_sep:
                        out.append(_SEP_REQUIRED)
                elif pending_sep and prev_kind:
                    out.append("\\s*")
                out.append(re.escape(run))
                prev_kind = kind
                pending_sep = False
        else:
            if re.fullmatch(_APOSTROPHE, tok):
                out.append(_APOSTROPHE)
            else:
                out.append(("\\s*" if pending_sep else "") + re.escape(tok) + "\\s*")
            prev_kind = "punct"
            pending_sep = False
    pattern = "".join(out)
    if pattern.endswith("\\s*"):
        pattern = pattern[: -len("\\s*")]
    if wildcard:
        pattern += "\\w*"
    elif prev_kind == "digit":
        pattern += "s?"  # plural of a designation: S-400s, F-35s
    first = body.strip()[0]
    last = body.strip()[-1]
    trail = "(?!\\w)" if wildcard or last.isalnum() or last == "_" else ""
    head = _ALNUM_RUNS.match(body.strip())
    if head is None or not (first.isalnum() or first == "_"):
        return f"{pattern}{trail}"
    # Whole word at the start. The checks look behind the first run of letters or digits
    # rather than ahead of it, so the pattern starts with a literal: the regex engine then
    # scans for that literal instead of trying every position (30x faster on a summary).
    word = re.escape(head.group())
    if _is_arabic(head.group()[0]):
        core = _arabic_core(head.group())
        if core != head.group():  # written with the article: it (or "لل") is required
            return f"(?<!\\w)(?:{_AR_ARTICLE_PREFIX}){re.escape(core)}{pattern[len(word) :]}{trail}"
        return f"(?<!\\w)(?:{_AR_ANY_PREFIX})?{pattern}{trail}"
    if _is_hebrew(head.group()[0]):
        return f"(?<!\\w){_HE_PREFIX}{pattern}{trail}"
    lead = f"(?<!\\w{word})"
    if head.group() in _CLITICS:
        # "s 400" in "Russia's 400 tanks" is the tail of a possessive, not the start of S-400;
        # after an elided article ("l'S-400", "d'S-400", "dell'S-400") it is the start, when
        # the designation goes on at once (a possessive's "s" is followed by a space: "X's
        # 400", "Dell's 400 layoffs").
        elided = "|".join(f"(?<=\\b{e}{_APOSTROPHE}{word})" for e in ("[^\\W\\d_]", *_ELIDED_LONG))
        lead += f"(?:(?<!\\w{_APOSTROPHE}{word})|(?:{elided})(?!\\s))"
    assert pattern.startswith(word)
    return f"{word}{lead}{pattern[len(word) :]}{trail}"


def _make_term(written: str, case_sensitive: bool) -> _Term:
    written = written.strip()
    if not written:
        raise _Invalid("a term must not be empty")
    if written[0] in "-\u2212" and len(written) > 1 and written[1].isalpha():
        raise _Invalid(
            f"'{written}': a term cannot leave articles out with a leading '-' (it would "
            f"match the word); list '{written[1:].strip()}' under `none:` to drop the rule "
            "where it occurs, or under `not_near:` to drop hits close to it"
        )
    sign = _REGEX_SIGNS.search(written)
    if sign is not None:
        raise _Invalid(
            f"'{written}' looks like a regular expression ({sign.group()}); a term is a "
            "word or a phrase, matched as whole words in any case, with `*` for any ending "
            "(Wagner Group, sanction*); spaces and dashes between words are alike, so "
            "`Wagner Group` also finds Wagner-Group"
        )
    folded = fold(written).text
    pattern = _term_pattern(folded, written)
    exact = None
    if case_sensitive:
        exact = Regex.compile(_term_pattern(fold(written, lower=False).text))
    runs = _ALNUM_RUNS.findall(folded.rstrip("*"))
    contains = None
    if runs and _is_arabic(runs[0][0]) and folded.strip()[0] == runs[0][0]:
        contains = runs[0] = _arabic_core(runs[0])
    elif runs and _is_hebrew(runs[0][0]) and folded.strip()[0] == runs[0][0]:
        contains = runs[0]
    chunks = tuple(dict.fromkeys(runs))
    prefix = runs[-1] if folded.endswith("*") else None
    whole_list = runs[:-1] if prefix is not None else runs
    if contains is not None:
        whole_list = whole_list[1:]
        if prefix is not None and len(runs) == 1:
            prefix = None  # "تركي*": the substring test and the regex do the work
    whole = tuple(dict.fromkeys(whole_list))
    return _Term(
        written,
        case_sensitive,
        pattern,
        Regex.compile(pattern),
        exact,
        chunks,
        whole,
        prefix,
        contains,
    )


def _term_from_value(value: Any, path: Path_) -> tuple[str, bool]:
    """A list item naming a term: "NATO", "=NATO" or {term: NATO, case_sensitive: true}."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("="):
            return text[1:], True
        return text, False
    if isinstance(value, Mapping):
        unknown = set(value) - {"term", "case_sensitive"}
        if unknown:
            raise _Invalid(
                f"unknown key {sorted(unknown)[0]!r} in a term; use `term` and `case_sensitive`",
                (*path, sorted(unknown)[0]),
            )
        term = value.get("term")
        if not isinstance(term, str):
            raise _Invalid("a term mapping needs `term: <text>`", (*path, "term"))
        case = value.get("case_sensitive", False)
        if not isinstance(case, bool):
            raise _Invalid("`case_sensitive` must be true or false", (*path, "case_sensitive"))
        return term, case
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value), False
    hint = ""
    if isinstance(value, bool) or value is None:
        # YAML reads NO, yes, on, off, null as these: Norway's code, a "None" ...
        hint = "; YAML reads NO, Yes, On, Off and null as such: quote the term ('NO')"
    raise _Invalid(f"a term must be a string, got {_kind(value)}{hint}", path)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


# Characters of a wildcard prefix a _TermGroup indexes it by (a run shorter than this is
# its own head, and a prefix shorter than this is looked up on its own).
_HEAD = 3
