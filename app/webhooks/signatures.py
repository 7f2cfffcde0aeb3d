"""Webhook signatures, always over the raw body bytes (never re-encoded JSON: the shop signs
PHP `json_encode` output, whose escaping Python would not reproduce)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

WOO_SIGNATURE = "x-wc-webhook-signature"


def woo_signature(secret: str, body: bytes) -> str:
    """WooCommerce's `WC_Webhook::generate_signature`: base64 of the raw HMAC-SHA256 digest of
    the body, keyed with the webhook's secret (docs/fidelity/woocommerce.md)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def woo_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(woo_signature(secret, body).encode(), header.strip().encode())


SHOPER_SIGNATURE = "x-webhook-sha1"
SHOPER_WEBHOOK_ID = "x-webhook-id"


def shoper_signature(webhook_id: str, secret: str, body: bytes) -> str:
    """Shoper's `X-Webhook-SHA1` as read from community implementations of its developer docs:
    hex SHA-1 of `<webhook id>:<secret>:<raw body>` (docs/fidelity/shoper.md: unverified)."""
    return hashlib.sha1(f"{webhook_id}:{secret}:".encode() + body).hexdigest()


def shoper_valid(secret: str, body: bytes, webhook_id: str | None, header: str | None) -> bool:
    if not header or not webhook_id:
        return False
    expected = shoper_signature(webhook_id.strip(), secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def valid(secret: str, body: bytes, headers: Mapping[str, str]) -> tuple[bool, str | None]:
    """Check whichever platform's signature the request carries; (valid, the signature)."""
    if SHOPER_SIGNATURE in headers:
        sig = headers.get(SHOPER_SIGNATURE)
        return shoper_valid(secret, body, headers.get(SHOPER_WEBHOOK_ID), sig), sig
    sig = headers.get(WOO_SIGNATURE)
    return woo_valid(secret, body, sig), sig
