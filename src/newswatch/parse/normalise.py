"""Pure helpers that turn what a feed says into stable values: URLs, ids, UTC dates, titles.

Nothing here does I/O or imports a parser; every function is total (never raises on bad input)
and idempotent where that makes sense, so the ids and URLs stored today match tomorrow's.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from newswatch.parse.text import one_line

# Query keys that only say how a reader arrived (analytics, campaigns, share buttons), never which
# page it is. Compared case-insensitively. Deliberately NOT here: id, p, story, page, mod-like keys
# some CMSs use to pick content. `ref` is dropped: news sites use it only as a referrer tag.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "ocid", "cmpid", "cmp", "_ga", "_gl", "ref", "ref_src", "ref_url",
        "smid", "smtyp", "icid", "maca", "traffic_source", "xtor", "ncid", "sr_share", "mbid",
        "__twitter_impression", "spm", "s_cid",
    }
)  # fmt: skip
# Key prefixes of the same kind: Google (utm_), AT Internet / BBC (at_), Piano (pk_), HubSpot.
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "hsa_", "_hs", "mtm_", "oly_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in a path or query; everything else is percent-encoded, and `%` is
# kept so that encoding twice changes nothing (idempotence).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$&'()*+,;=-._~?"
_HOST_OK = re.compile(r"[^\s/\\?#@:\[\]%<>\"'`{}|^]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")

# An absolute http(s) URL that canonical_url returns unchanged, tracking parameters aside:
# lower-case host without port or user, a path, only characters the steps below keep as they
# are, no ';' (urljoin would split path parameters off), no fragment.
_ALREADY_CANONICAL = re.compile(
    r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?<!\.)/[A-Za-z0-9/%:@!$&'()*+,=._~-]*"
    r"(?:\?[A-Za-z0-9/%:@!$&'()*+,;=._~?-]+)?\Z"
)

TITLE_MAX_CHARS = 1_000
# Dates outside [EARLIEST, now + FUTURE_TOLERANCE] are generator bugs (epoch 0, year 2099) and are
# treated as unknown by the parser.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


def canonical_url(url: str, base: str | None = None) -> str:
    """Return the canonical http(s) form of `url`, or "" when it is not a usable web address.

    Resolves `url` against `base`; lowercases scheme and host; drops user info, default ports,
    the fragment, empty query pieces and tracking parameters; percent-encodes unsafe characters.
    The remaining query parameters keep their order and spelling (some servers care).
    canonical_url(canonical_url(u)) == canonical_url(u) for every string u.
    """
    if _ALREADY_CANONICAL.match(url) and _no_tracking(url):
        return url  # what the steps below would return, at a tenth of the cost
    try:
        return _canonical_url(url, base)
    except (ValueError, TypeError, UnicodeError):
        return ""


def _no_tracking(url: str) -> bool:
    query = url.partition("?")[2]
    if not query:
        return True
    for piece in query.split("&"):
        key = unquote(piece.partition("=")[0]).strip().lower()
        if not piece or key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
            return False
    return True


def _canonical_url(url: str, base: str | None) -> str:
    url = url.strip()
    if not url:
        return ""
    if base:
        base = base.strip()
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return ""
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return ""
    is_ipv6 = ":" in host
    if not is_ipv6 and not _HOST_OK.fullmatch(host):
        return ""
    host = host.lower()
    port = parts.port  # raises ValueError on a bad port -> ""
    netloc = f"[{host}]" if is_ipv6 else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = _clean_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _clean_query(query: str) -> str:
    if not query:
        return ""
    kept: list[str] = []
    for piece in query.split("&"):
        if not piece:
            continue
        key = unquote(piece.partition("=")[0]).strip().lower()
        if key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
            continue
        kept.append(quote(piece, safe=_QUERY_SAFE))
    return "&".join(kept)


def article_id(
    feed_url: str, guid: str | None, url: str, *, title: str = "", content: str = ""
) -> str:
    """Return a stable id: 32 hex chars of blake2b-128 over the feed URL and the entry's identity.

    The identity is the feed's own guid when it gave one (guids are only unique per feed, hence
    the feed URL), else `url`, which should already be canonical (see canonical_url), else
    `content` (the entry's own description or content, given when it has no title of its own:
    a microblog post), else `title`.
    """
    guid = (guid or "").strip()
    if guid:
        identity = f"g:{guid}"
    elif url:
        identity = f"u:{url}"
    elif content.strip():
        identity = "c:" + " ".join(content.split())
    else:
        identity = f"t:{title}"
    key = f"{feed_url}\n{identity}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def to_utc(
    value: time.struct_time | str | datetime | None, fallback: datetime
) -> tuple[datetime, bool]:
    """Return (aware UTC datetime, True) for a usable date, else (fallback in UTC, False).

    struct_time values are taken as UTC (feedparser's *_parsed fields are). Strings may be
    RFC 822 (RSS) or ISO 8601 (Atom). Naive datetimes and strings without an offset are taken
    as UTC. Never raises.
    """
    try:
        parsed = _to_datetime(value)
        if parsed is not None:
            return _as_utc(parsed), True
    except (ValueError, TypeError, OverflowError, IndexError, AttributeError):
        pass
    return _fallback_utc(fallback), False


def _to_datetime(value: time.struct_time | str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, time.struct_time):
        # tm_sec may be 60 or 61 (leap seconds) in a struct_time; datetime refuses those.
        return datetime(*value[:5], min(value.tm_sec, 59), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        return email.utils.parsedate_to_datetime(text)  # raises ValueError/TypeError if not
    return None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _fallback_utc(fallback: datetime) -> datetime:
    try:
        return _as_utc(fallback)
    except (ValueError, OverflowError):
        # An aware fallback at the very edge of datetime's range: keep the wall time.
        return fallback.replace(tzinfo=UTC)


def plausible_date(value: datetime, now: datetime) -> bool:
    """True when `value` could be a real publication time seen at `now`."""
    return EARLIEST_PLAUSIBLE <= value <= now + FUTURE_TOLERANCE


def clean_title(text: str) -> str:
    """Return a one-line title: control and zero-width characters removed, whitespace folded,
    Unicode NFC, at most TITLE_MAX_CHARS (cut at a word boundary with an ellipsis)."""
    if not (text.isascii() and text.isprintable()):  # else there is nothing to remove
        text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
    text = one_line(text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return truncate(text, TITLE_MAX_CHARS)


DERIVED_TITLE_CHARS = 100
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s")


def derived_title(text: str, url: str = "") -> str:
    """A title for an entry that has none: the first sentence of its plain text (at most
    DERIVED_TITLE_CHARS, cut at a word), else the file name its URL ends in, else
    "(untitled)". Pure and stable: the same entry gets the same title every poll."""
    text = clean_title(text)
    if text:
        first = _SENTENCE_END.split(text, maxsplit=1)[0]
        return truncate(first, DERIVED_TITLE_CHARS)
    name = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2]) if url else ""
    name = clean_title(name)
    return truncate(name, DERIVED_TITLE_CHARS) if name else "(untitled)"


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, at a space when one is near, adding "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def codec_name(label: str | None) -> str | None:
    """The canonical name of the text encoding a feed or a server names (`"UTF8"` ->
    `"utf-8"`, `"latin1"` -> `"iso8859-1"`), or None when there is no label or Python knows
    no such encoding."""
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
