"""OAuth 1.0a one-legged signing, exactly as WooCommerce verifies it on plain-HTTP REST calls.

Public API (used by the connector to sign and by the sandbox to verify):

    sign(method, url, params, key, secret, *, timestamp=None, nonce=None,
         algorithm="HMAC-SHA256") -> dict[str, str]
        The complete query to send on the bare URL: the URL's own query, `params`, and
        oauth_consumer_key / oauth_nonce / oauth_signature_method / oauth_timestamp /
        oauth_signature. `timestamp` (unix seconds) and `nonce` default to now / a fresh random hex.

    signature(method, url, params, secret, algorithm) -> str
        The base64 signature of a request whose (decoded) query is `params`, oauth_* included;
        an `oauth_signature` entry in `params` is ignored.

    SIGNATURE_METHODS = ("HMAC-SHA1", "HMAC-SHA256")

Rules (from WooCommerce `WC_REST_Authentication::check_oauth_signature`, cross-checked with the
official client `woocommerce/wc-api-python` `oauth.py`):
- base string = METHOD & enc(base URL) & enc(k1=v1&k2=v2...), where every key and value is
  RFC 3986 percent-encoded once before joining and the joined pairs once more (so `=` is `%3D`
  and pairs are glued with `%26`); the base URL is scheme://host[:port]/path without the query;
- parameters are sorted by their *decoded* name in byte order (PHP `uksort(..., 'strcmp')`);
- the HMAC key is `consumer_secret&` (no token secret), the digest is base64-encoded.
Values are the plain (decoded) strings the server will see. PHP-style array keys (`a[b]`) are
refused: PHP nests them before sorting, which this flat signer cannot mirror (the cause of the
"invalid signature with 10+ include ids" reports, woocommerce/wc-api-php#139); send lists as
comma-separated strings instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

SIGNATURE_METHODS: tuple[str, ...] = ("HMAC-SHA1", "HMAC-SHA256")
_DIGESTS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
_DEFAULT_PORTS = {"http": 80, "https": 443}

ParamValue = str | int | float | bool


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as PHP `rawurlencode` does it: only A-Z a-z 0-9 - _ . ~ stay literal."""
    return quote(text, safe="~")


def base_url(url: str) -> str:
    """Base-string URL: lower-case scheme and host, no default port, no query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _php_string(value: ParamValue) -> str:
    # PHP sees every query value as a string; booleans follow PHP's casting ("1" / "").
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def base_string(method: str, url: str, params: Mapping[str, ParamValue]) -> str:
    """The exact string WooCommerce signs (see module docstring)."""
    pairs = []
    for name in sorted((k for k in params if k != "oauth_signature"), key=lambda k: k.encode()):
        if "[" in name:
            raise ValueError(f"array-style parameter {name!r} cannot be signed; send a comma list")
        pair = f"{percent_encode(name)}={percent_encode(_php_string(params[name]))}"
        pairs.append(percent_encode(pair))
    return "&".join((method.upper(), percent_encode(base_url(url)), "%26".join(pairs)))


def signature(
    method: str, url: str, params: Mapping[str, ParamValue], secret: str, algorithm: str
) -> str:
    """Base64 HMAC of the base string with key `secret&`."""
    if algorithm not in _DIGESTS:
        raise ValueError(f"unsupported OAuth signature method {algorithm!r}")
    key = f"{secret}&".encode()
    digest = hmac.new(key, base_string(method, url, params).encode(), _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(
    method: str,
    url: str,
    params: Mapping[str, ParamValue],
    key: str,
    secret: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    algorithm: str = "HMAC-SHA256",
) -> dict[str, str]:
    """Return the full signed query for `method url?params` (send it on `base_url(url)`)."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    query.update({name: _php_string(value) for name, value in params.items()})
    query.update(
        {
            "oauth_consumer_key": key,
            "oauth_nonce": nonce if nonce is not None else secrets.token_hex(16),
            "oauth_signature_method": algorithm,
            "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        }
    )
    query["oauth_signature"] = signature(method, url, query, secret, algorithm)
    return query
