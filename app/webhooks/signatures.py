"""Webhook signatures, always over the raw body bytes (never re-encoded JSON: the shop signs
PHP `json_encode` output, whose escaping Python would not reproduce)."""

from __future__ import annotations

import base64
import hashlib
import hmac

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
