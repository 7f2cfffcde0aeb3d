"""`iluo-sync integration-auth NAME ID`: an interactive authorisation a platform needs.

Allegro works on a seller's behalf through OAuth 2 (CONTRACT §5): the device flow prints the
address and code for the seller, waits while they confirm in a browser, and keeps the tokens
encrypted in the tenant database (sync_oauth_tokens, with the registry's key). Runs refresh the
tokens from then on; the command is needed again only when the seller's authorisation ends
(revoked, or unused for longer than the refresh token lives), which the runs report as a
configuration error naming this command.
"""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from app.cli import app
from app.cli.common import registry, user_errors
from shared.control.registry import db_error_line
from shared.erp.integrations import load_integration
from shared.errors import UserError
from workers.engine.connector_state import SqlConnectorState
from workers.ports import ShopConnection, ShopError
from workers.shops.allegro.auth import DeviceAuthorisation, authorise

#: Platforms whose integrations are authorised interactively.
INTERACTIVE = ("allegro",)


def _announce(device: DeviceAuthorisation) -> None:
    address = device.verification_uri_complete or device.verification_uri
    typer.echo(f"Open {address} as the seller and confirm the code {device.user_code}.")
    typer.echo(f"Waiting for the confirmation (the code is valid {device.expires_in / 60:.0f} "
               "minutes; Ctrl-C to give up)…")


@app.command("integration-auth")
@user_errors
def integration_auth(name: str, integration_id: int) -> None:
    """Authorise integration INTEGRATION_ID of tenant NAME on its platform (Allegro: the
    seller confirms a code in a browser); the tokens are stored encrypted."""
    with registry() as reg:
        tenant = reg.get(name)
        engine = reg.tenant_engine(tenant)
        try:
            with engine.connect() as conn:
                config = load_integration(conn, integration_id)
        except SQLAlchemyError as exc:
            raise UserError(f"cannot read tenant {name}'s database: {db_error_line(exc)}") \
                from None
        if config is None:
            raise UserError(f"tenant {name} has no shop integration #{integration_id}")
        if config.platform not in INTERACTIVE:
            raise UserError(f"integration #{integration_id} ({config.platform}) needs no "
                            "interactive authorisation; its keys are in shop_integrations")
        box = reg.box
        state = SqlConnectorState(engine, integration_id, box=lambda: box)
        try:
            authorise(ShopConnection.of(config), state, _announce)
        except ShopError as exc:
            raise UserError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise UserError(f"cannot store the tokens in tenant {name}'s database: "
                            f"{db_error_line(exc)}") from None
    typer.echo(f"#{integration_id}: authorised; the seller's tokens are stored encrypted")
