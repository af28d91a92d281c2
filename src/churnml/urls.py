"""Connection URLs: find and mask the secrets they carry, whatever form the URL was written in.

One implementation for the whole project, built on SQLAlchemy's URL parser (it also reads
non-database URIs such as ``http://user:pw@mlflow:5000``). Beyond what the parser returns as
the password, it looks at the forms people actually write: a password with no user, extra
slashes before the user (the parser then sees the whole ``user:pw@host`` as a database path),
an unencoded ``@`` inside the password, a port that is not a number, and passwords in the query
string (``?password=``, ``pwd=``, ``sslpassword=``, tokens, keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

MASK = "***"
_SECRET_QUERY_WORDS = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key")


def _secret_query_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS) or lowered in ("pass", "key")


def _parse(url: str) -> URL | None:
    from sqlalchemy.engine import make_url  # only once a value looks like a URL

    try:
        return make_url(url)
    except Exception:  # not a URL at all, or a part SQLAlchemy cannot convert (a bad port)
        return None


def _userinfo_password(url: str) -> str | None:
    """The password of a URL the parser refused (e.g. ``host:notaport``): text after the scheme
    up to the last ``@``, after the first ``:``."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    authority = rest.lstrip("/").split("?", 1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        return None
    _, colon, password = userinfo.partition(":")
    return unquote(password) if colon and password else None


def url_secrets(url: str, _depth: int = 0) -> list[str]:
    """Every secret value a URL carries (passwords, secret query values), decoded."""
    if "://" not in url:
        return []
    parsed = _parse(url)
    if parsed is None:
        found = [p for p in [_userinfo_password(url)] if p]
        query = url.split("?", 1)[1] if "?" in url else ""
        found += [v for k, v in parse_qsl(query) if _secret_query_key(k) and v]
        return found
    found = []
    if parsed.password:
        password = str(parsed.password)
        if parsed.host and "@" in parsed.host:  # an unencoded '@' inside the password
            password = password + "@" + parsed.host.rsplit("@", 1)[0]
        found.append(password)
    for key, value in parsed.query.items():
        values = value if isinstance(value, tuple) else (value,)
        if _secret_query_key(key):
            found += [v for v in values if v]
    if parsed.database and "@" in parsed.database and _depth < 3:
        # extra slashes: 'postgresql:///user:pw@host/db' parses as a database path
        found += url_secrets(f"{parsed.drivername}://{parsed.database.lstrip('/')}", _depth + 1)
    return found


def has_secret(url: str) -> bool:
    """Whether a URL carries a password or a secret query value."""
    return bool(url_secrets(url))


def mask_secrets(text: str, secrets: list[str]) -> str:
    """The text with each secret (raw or percent-encoded) replaced by ***; longest first."""
    variants = set()
    for secret in secrets:
        variants |= {secret, quote(secret, safe=""), quote(secret, safe="@:")}
    for variant in sorted((v for v in variants if v), key=len, reverse=True):
        text = text.replace(variant, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL as it can be printed: every secret it carries replaced by ***."""
    return mask_secrets(url, url_secrets(url))


def redact(text: str, url: str) -> str:
    """Text (a driver's error message, a log line) with the URL and its secrets masked."""
    return mask_secrets(text.replace(url, "<database URL>"), url_secrets(url))
