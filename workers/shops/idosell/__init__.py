"""IdoSell Admin API v6: connector (`client`), mapping and sandbox."""
