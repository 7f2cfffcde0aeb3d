"""Vendure 3 connector (Admin GraphQL API): `VendureClient` in `client.py`, row mapping in
`mapping.py`, the GraphQL documents in `queries.py`."""

from workers.shops.vendure.client import VendureClient

__all__ = ["VendureClient"]
