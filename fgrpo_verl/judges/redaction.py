"""Keep judge credentials out of URLs, logs, errors and reports.

- :func:`check_judge_url` refuses a judge URL that carries credentials (``user:password@host``, or a
  query string or fragment, where tokens are passed and which no base URL needs):
  URLs are printed in configs, logs, ``run.json`` and ``report.md``, and an HTTP client turns
  them into a ``Basic`` Authorization header. The error names the URL with the credentials
  replaced by ``***`` and says where the key belongs instead (an environment variable).
- :func:`redact` masks a secret in any text: every occurrence of it, every fragment of 8 or more
  characters that starts it (a server or proxy may echo a cut-off header), and whatever follows
  ``Bearer`` / ``Basic`` (so an echoed Authorization header is masked even when the secret is not
  known here). Redact *before* cutting text to length: a cut can split the secret, and the
  fragment left behind would no longer match.
"""

from __future__ import annotations

import re
import urllib.parse

MASK = "<redacted>"
_MIN_FRAGMENT = 8
_AUTH_SCHEMES = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=:%-]{4,}", re.IGNORECASE)
# The scheme starts where no scheme character precedes it, so a long run of letters is scanned once.
_URL_USERINFO = re.compile(r"(?P<scheme>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """``url`` as logs and reports may show it: user-info (``user:pass@``) shown as ``***@``, query
    string and fragment (which may carry a token) dropped."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed netloc: mask what looks like user-info, drop the rest after ? or #
        return _URL_USERINFO.sub(r"\g<scheme>***@", re.split(r"[?#]", url, maxsplit=1)[0])
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    if "@" in parts.netloc:
        host = f"***@{host}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_judge_url(url: str, where: str) -> str:
    """``url`` if it is an http(s) URL without credentials; else ``ValueError`` naming ``where``.

    The message never repeats the credentials.
    """
    shown = redact_url(url)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{where} must start with http:// or https://, got {shown!r}")
    if "@" in urllib.parse.urlsplit(url).netloc:
        raise ValueError(
            f"{where} ({shown}) carries credentials in the URL; they are refused because URLs are printed and "
            "logged. Put the API key in an environment variable and name it in fgrpo.judge.api_key_env "
            "(or --api-key-env); it is sent as an Authorization header and never printed"
        )
    if re.search(r"[?#]", url):
        # A token in the query string would be logged with every failed request (the request path is
        # appended after it, so no request would reach the server either).
        raise ValueError(
            f"{where} ({shown}) carries a query string or fragment; a judge base URL has none (e.g. "
            "http://host:8000/v1). Put an API key in an environment variable and name it in "
            "fgrpo.judge.api_key_env (or --api-key-env)"
        )
    return url


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret`` (whole or as a leading fragment), auth-header values and URL credentials masked."""
    if secret:
        text = text.replace(secret, MASK)
        if len(secret) >= _MIN_FRAGMENT:
            text = _mask_fragments(text, secret)
    return _URL_USERINFO.sub(r"\g<scheme>***@", _AUTH_SCHEMES.sub(lambda m: f"{m.group(1)} {MASK}", text))


def _mask_fragments(text: str, secret: str) -> str:
    """Mask every run of ``text`` that equals the first 8+ characters of ``secret`` (a cut-off echo)."""
    head = secret[:_MIN_FRAGMENT]
    pieces, start = [], 0
    found = text.find(head)
    while found >= 0:
        end = found + _MIN_FRAGMENT
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        pieces.append(text[start:found])
        pieces.append(MASK)
        start = end
        found = text.find(head, end)
    pieces.append(text[start:])
    return "".join(pieces)
