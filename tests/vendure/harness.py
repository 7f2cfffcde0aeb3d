"""A real Vendure 3 server for the end-to-end tests: install, boot, set up, seed, stop.

- `install()` puts the pinned `@vendure/core` (tests/vendure/harness/package.json and its
  package-lock.json) into a cache folder outside the repository
  (`~/.cache/iluo-sync/vendure-3.7.3` by default, `$ILUO_SYNC_CACHE_DIR` overrides the parent),
  with `npm ci`, once; later sessions reuse it while the lock file is unchanged. Vendure is
  GPL-3.0: a test-only tool that never lands in the tree or in a package.
- `VendureServer` starts `node tests/vendure/harness/vendure-config.js` in its own process group
  on a free 127.0.0.1 port (in-memory sql.js database, telemetry off), waits for `/health`, and
  stops the whole group by its PID (the server also exits if its parent dies).
- `setup_shop()` does the one-time configuration a fresh Vendure needs before it can hold Polish
  products and orders, through the Admin API, and returns an API key for the connector.
- `AdminApi` / `ShopApi` are the harness's own small GraphQL clients (deliberately not the
  connector, so the tests check the connector against an independent view), with helpers that
  seed products and place orders as an administrator or as a storefront customer.
- `python -m tests.vendure.harness` runs the same server by hand (see `main`).

Missing Node.js or npm raises `HarnessError` with a clear message; the fixtures let it fail the
tests loudly rather than skip them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from workers.shops.vendure.client import PERMISSIONS

VENDURE_VERSION = "3.7.3"
HARNESS_DIR = Path(__file__).with_name("harness")
CONFIG_JS = HARNESS_DIR / "vendure-config.js"
SUPERADMIN = "superadmin"
#: The harness's own password; the server only ever listens on 127.0.0.1.
PASSWORD = "iluo-sync-test"
BOOT_TIMEOUT = 90.0
NPM_TIMEOUT = 600.0


class HarnessError(RuntimeError):
    """The Vendure test server could not be installed, started or set up."""


# -- install ------------------------------------------------------------------------------------


def cache_root() -> Path:
    explicit = os.environ.get("ILUO_SYNC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "iluo-sync"


def require_node() -> tuple[str, str]:
    """Paths of `node` and `npm`, or a HarnessError that says what to install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        names = [name for name, path in (("node", node), ("npm", npm)) if not path]
        missing = f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'}"
        raise HarnessError(
            f"The Vendure end-to-end tests need Node.js 20+ and npm, but {missing} not on PATH. "
            "Install them (Debian: `apt-get install nodejs npm`, or https://nodejs.org) and run "
            "the tests again; these tests never skip."
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = version.stdout.strip().lstrip("v").split(".", 1)[0]
    if not major.isdigit() or int(major) < 20:
        raise HarnessError(f"The Vendure tests need Node.js 20 or newer; {node} is "
                           f"{version.stdout.strip() or 'unknown'}")
    return node, npm


def _manifest_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((HARNESS_DIR / name).read_bytes())
    return digest.hexdigest()


def install(npm: str | None = None) -> Path:
    """The cache folder holding node_modules for the pinned Vendure; installs it when missing.

    A stamp file holds the digest of package.json + package-lock.json, so a changed pin installs
    afresh; an flock on the cache root keeps two test sessions from installing at once, and the
    install happens in a scratch folder that is renamed into place only when npm succeeded.
    """
    npm = npm or require_node()[1]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"vendure-{VENDURE_VERSION}"
    stamp = target / ".installed"
    digest = _manifest_digest()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == digest:
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f"vendure-{VENDURE_VERSION}-", dir=root))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(HARNESS_DIR / name, scratch / name)
            # `npm ci` installs exactly the lock file; install scripts are not needed (bcrypt
            # ships prebuilt binaries) and skipping them keeps the install quick and offline-safe.
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                cwd=scratch, capture_output=True, text=True, timeout=NPM_TIMEOUT,
            )
            if result.returncode != 0:
                raise HarnessError(f"npm ci of @vendure/core {VENDURE_VERSION} failed "
                                   f"(exit {result.returncode}):\n{result.stderr[-3000:]}")
            (scratch / ".installed").write_text(digest)
            if target.exists():
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return target


# -- the server process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class VendureServer:
    """One Vendure process on 127.0.0.1. `api_keys` says whether it honours `vendure-api-key`."""

    modules: Path
    node: str
    api_keys: bool = True
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/admin-api"

    def start(self) -> VendureServer:
        for _ in range(3):  # another process may grab the free port between probe and bind
            self.port = free_port()
            self._spawn()
            try:
                self._wait_healthy()
                return self
            except HarnessError:
                log = self.log_tail()
                self.stop()
                if "EADDRINUSE" not in log:
                    raise
        raise HarnessError("Vendure could not bind a free port three times in a row")

    def _spawn(self) -> None:
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix="vendure-", suffix=".log")[1])
        env = {
            **os.environ,
            "NODE_PATH": str(self.modules / "node_modules"),
            "NODE_ENV": "development",
            # Telemetry is on by default and, with no network, stalls the first boot a minute.
            "VENDURE_DISABLE_TELEMETRY": "true",
            "VENDURE_PORT": str(self.port),
            "VENDURE_SUPERADMIN": SUPERADMIN,
            "VENDURE_PASSWORD": PASSWORD,
            "VENDURE_TOKEN_METHODS": "bearer,api-key" if self.api_keys else "bearer",
            "VENDURE_DB": "sqljs",
            "VENDURE_EXIT_WITH_PARENT": "1",
        }
        with open(self.log_path, "ab") as log:
            # A new session = a new process group, so stop() can signal node and anything it
            # spawned, by PID, without touching other processes.
            self.process = subprocess.Popen(
                [self.node, str(CONFIG_JS)], cwd=self.modules, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise HarnessError(f"Vendure exited with code {self.process.returncode} while "
                                       f"starting:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise HarnessError(f"Vendure did not answer /health within {BOOT_TIMEOUT:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass


@contextmanager
def running_vendure(*, api_keys: bool = True) -> Iterator[VendureServer]:
    node, npm = require_node()
    modules = install(npm)
    server = VendureServer(modules=modules, node=node, api_keys=api_keys).start()
    try:
        yield server
    except BaseException:
        server.stop()  # the log stays for the post-mortem; its path is in server.log_path
        raise
    server.stop()
    if server.log_path is not None:
        server.log_path.unlink(missing_ok=True)


# -- the Admin API as the harness uses it -------------------------------------------------------


class AdminApi:
    """A bare GraphQL client logged in as the superadmin; raises on any error or ErrorResult."""

    def __init__(self, admin_url: str, username: str = SUPERADMIN, password: str = PASSWORD):
        self.url = admin_url
        self.client = httpx.Client(timeout=30.0)
        self.token: str | None = None
        result = self.raw(
            "mutation($u:String!,$p:String!){login(username:$u,password:$p){"
            "__typename ... on ErrorResult{errorCode message}}}",
            {"u": username, "p": password},
        )
        if result.json()["data"]["login"]["__typename"] != "CurrentUser":
            raise HarnessError(f"superadmin login failed: {result.text}")
        self.token = result.headers["vendure-auth-token"]

    def raw(self, query: str, variables: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if self.token and "vendure-api-key" not in sent:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.post(self.url, json={"query": query, "variables": variables or {}},
                                headers=sent)

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.raw(query, variables)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise HarnessError(f"Admin API error: {response.status_code} {response.text[:1000]}")
        for value in body["data"].values():
            if isinstance(value, dict) and "errorCode" in value:
                raise HarnessError(f"Admin API ErrorResult: {value}")
        return body["data"]

    def close(self) -> None:
        self.client.close()


#: What the connector's API key may do: exactly the permissions the connector says it needs
#: (found by trying; catalogue, orders, tax rates with their customer groups, stock
#: locations), so every test proves that set is enough.
CONNECTOR_PERMISSIONS = PERMISSIONS


@dataclass(frozen=True)
class ShopSetup:
    """Ids the tests need after `setup_shop`."""

    api_key: str
    channel_id: str
    zone_id: str
    tax_category_id: str
    reduced_tax_category_id: str
    shipping_method_id: str
    payment_method_code: str
    stock_location_id: str
    role_id: str


def setup_shop(api: AdminApi, *, prices_include_tax: bool = True) -> ShopSetup:
    """Make a fresh Vendure a Polish shop: country PL, zone, PLN channel, VAT 23 % (default),
    8 % and 5 %, a manual-fulfilment shipping method, the dummy payment method and an API key
    whose role carries CONNECTOR_PERMISSIONS."""
    country = api("mutation($i:CreateCountryInput!){createCountry(input:$i){id}}", {"i": {
        "code": "PL", "enabled": True, "translations": [{"languageCode": "en", "name": "Poland"}],
    }})["createCountry"]["id"]
    zone = api("mutation($i:CreateZoneInput!){createZone(input:$i){id}}", {"i": {
        "name": "Polska", "memberIds": [country],
    }})["createZone"]["id"]
    channel = api("{activeChannel{id}}")["activeChannel"]["id"]
    api("mutation($i:UpdateChannelInput!){updateChannel(input:$i){"
        "__typename ... on ErrorResult{errorCode message}}}", {"i": {
            "id": channel, "defaultTaxZoneId": zone, "defaultShippingZoneId": zone,
            "defaultCurrencyCode": "PLN", "availableCurrencyCodes": ["PLN"],
            "pricesIncludeTax": prices_include_tax,
        }})
    categories = {}
    for name, rate, default in (("VAT 23%", 23, True), ("VAT 8%", 8, False),
                                ("VAT 5%", 5, False)):
        category = api("mutation($i:CreateTaxCategoryInput!){createTaxCategory(input:$i){id}}",
                       {"i": {"name": name, "isDefault": default}})["createTaxCategory"]["id"]
        api("mutation($i:CreateTaxRateInput!){createTaxRate(input:$i){id}}", {"i": {
            "name": name, "enabled": True, "value": rate, "categoryId": category, "zoneId": zone,
        }})
        categories[rate] = category
    shipping = api("mutation($i:CreateShippingMethodInput!){createShippingMethod(input:$i){id}}",
                   {"i": {
                       "code": "kurier", "fulfillmentHandler": "manual-fulfillment",
                       "checker": {"code": "default-shipping-eligibility-checker",
                                   "arguments": [{"name": "orderMinimum", "value": "0"}]},
                       "calculator": {"code": "default-shipping-calculator", "arguments": [
                           {"name": "rate", "value": "1500"},
                           {"name": "includesTax", "value": "include"},
                           {"name": "taxRate", "value": "23"},
                       ]},
                       "translations": [{"languageCode": "en", "name": "Kurier"}],
                   }})["createShippingMethod"]["id"]
    api("mutation($i:CreatePaymentMethodInput!){createPaymentMethod(input:$i){id}}", {"i": {
        "code": "przelew", "enabled": True,
        "handler": {"code": "dummy-payment-handler",
                    "arguments": [{"name": "automaticSettle", "value": "false"}]},
        "translations": [{"languageCode": "en", "name": "Przelew"}],
    }})
    role = api("mutation($i:CreateRoleInput!){createRole(input:$i){id}}", {"i": {
        "code": "iluo-sync", "description": "ERP synchronisation",
        "permissions": list(CONNECTOR_PERMISSIONS), "channelIds": [channel],
    }})["createRole"]["id"]
    key = api("mutation($i:CreateApiKeyInput!){createApiKey(input:$i){apiKey}}", {"i": {
        "roleIds": [role], "translations": [{"languageCode": "en", "name": "iluo-sync"}],
    }})["createApiKey"]["apiKey"]
    location = api("{stockLocations{items{id}}}")["stockLocations"]["items"][0]["id"]
    return ShopSetup(
        api_key=key, channel_id=channel, zone_id=zone, tax_category_id=categories[23],
        reduced_tax_category_id=categories[8], shipping_method_id=shipping,
        payment_method_code="przelew", stock_location_id=location, role_id=role,
    )


# -- seeding --------------------------------------------------------------------------------------


def create_product(api: AdminApi, name: str, variants: Sequence[Mapping[str, Any]],
                   *, slug: str | None = None) -> tuple[str, list[str]]:
    """A product with the given variants ({sku, price, stockOnHand?, name?}); (product id,
    variant ids). Done the way a shop owner's admin UI would, not through the connector."""
    product = api("mutation($i:CreateProductInput!){createProduct(input:$i){id}}", {"i": {
        "enabled": True,
        "translations": [{"languageCode": "en", "name": name,
                          "slug": slug or _slug(name), "description": f"{name} (seeded)"}],
    }})["createProduct"]["id"]
    created = api("mutation($i:[CreateProductVariantInput!]!){createProductVariants(input:$i){id}}",
                  {"i": [{
                      "productId": product, "sku": v["sku"], "price": v["price"],
                      "stockOnHand": v.get("stockOnHand", 100),
                      "translations": [{"languageCode": "en", "name": v.get("name", name)}],
                  } for v in variants]})["createProductVariants"]
    return product, [row["id"] for row in created]


def _slug(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in cleaned.split("-") if part) + f"-{time.monotonic_ns() % 10**8}"


@dataclass(frozen=True)
class PlacedOrder:
    id: str
    code: str
    line_ids: list[str]


_ORDER_RESULT = ("__typename ... on Order{id code state lines{id}} "
                 "... on ErrorResult{errorCode message}")


def place_order(
    api: AdminApi,
    setup: ShopSetup,
    lines: Sequence[tuple[str, int]],
    *,
    email: str = "jan.kowalski@example.pl",
    first_name: str = "Jan",
    last_name: str = "Kowalski",
    phone: str = "+48 600 100 200",
    settle: bool = True,
    draft: Mapping[str, str] | None = None,
) -> PlacedOrder:
    """Place an order as an administrator would: draft → items → customer → addresses → shipping
    → ArrangingPayment → manual payment (→ settled when `settle`). `lines` = (variant id, qty).
    `draft` ({id, code} of `createDraftOrder`) places a draft made earlier: its `createdAt` is
    then older than its `orderPlacedAt`, as for a cart left for days before checkout."""
    order = draft or api("mutation{createDraftOrder{id code}}")["createDraftOrder"]
    oid = order["id"]
    for variant_id, quantity in lines:
        api(f"mutation($o:ID!,$i:AddItemToDraftOrderInput!){{addItemToDraftOrder(orderId:$o,"
            f"input:$i){{{_ORDER_RESULT}}}}}",
            {"o": oid, "i": {"productVariantId": variant_id, "quantity": quantity}})
    api(f"mutation($o:ID!,$i:CreateCustomerInput!){{setCustomerForDraftOrder(orderId:$o,input:$i)"
        f"{{{_ORDER_RESULT}}}}}", {"o": oid, "i": {
            "emailAddress": email, "firstName": first_name, "lastName": last_name,
            "phoneNumber": phone}})
    address = {"fullName": f"{first_name} {last_name}", "streetLine1": "ul. Długa 5",
               "streetLine2": "m. 3", "city": "Kraków", "postalCode": "30-001",
               "countryCode": "PL", "phoneNumber": phone, "company": "Kowalski Sp. z o.o."}
    for mutation in ("setDraftOrderShippingAddress", "setDraftOrderBillingAddress"):
        api(f"mutation($o:ID!,$i:CreateAddressInput!){{{mutation}(orderId:$o,input:$i){{id}}}}",
            {"o": oid, "i": address})
    api(f"mutation($o:ID!,$s:ID!){{setDraftOrderShippingMethod(orderId:$o,shippingMethodId:$s)"
        f"{{{_ORDER_RESULT}}}}}", {"o": oid, "s": setup.shipping_method_id})
    placed = api(f"mutation($o:ID!){{transitionOrderToState(id:$o,state:\"ArrangingPayment\")"
                 f"{{{_ORDER_RESULT}}}}}", {"o": oid})["transitionOrderToState"]
    # metadata must be given: without it the payment row fails a NOT NULL constraint.
    payment = api("mutation($i:ManualPaymentInput!){addManualPaymentToOrder(input:$i){"
                  "__typename ... on Order{state payments{id state}} "
                  "... on ErrorResult{errorCode message}}}", {"i": {
                      "orderId": oid, "method": setup.payment_method_code,
                      "transactionId": f"T-{oid}", "metadata": {}}})["addManualPaymentToOrder"]
    if settle and payment["state"] != "PaymentSettled":
        for row in payment["payments"]:
            if row["state"] != "Settled":
                api("mutation($p:ID!){settlePayment(id:$p){__typename "
                    "... on ErrorResult{errorCode message}}}", {"p": row["id"]})
    return PlacedOrder(id=oid, code=order["code"], line_ids=[row["id"] for row in placed["lines"]])


def order_state(api: AdminApi, order_id: str) -> dict[str, Any]:
    return api("query($id:ID!){order(id:$id){id state updatedAt active orderPlacedAt "
               "payments{state} fulfillments{id state}}}", {"id": order_id})["order"]


def variant_stock(api: AdminApi, variant_id: str) -> dict[str, int]:
    variant = api("query($id:ID!){productVariant(id:$id){stockLevels{stockOnHand stockAllocated}}}",
                  {"id": variant_id})["productVariant"]
    on_hand = sum(level["stockOnHand"] for level in variant["stockLevels"])
    allocated = sum(level["stockAllocated"] for level in variant["stockLevels"])
    return {"on_hand": on_hand, "allocated": allocated, "saleable": on_hand - allocated}


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False)


class ShopApi:
    """A customer's session on the Shop API (bearer token kept between calls), for orders placed
    the way a storefront places them: the cart is an order in `AddingItems`, checkout moves it
    to `ArrangingPayment`, and a payment authorised by the handler places it."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/shop-api"
        self.client = httpx.Client(timeout=30.0)
        self.token: str | None = None

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.client.post(self.url, json={"query": query, "variables": variables or {}},
                                    headers=headers)
        token = response.headers.get("vendure-auth-token")
        if token:
            self.token = token
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise HarnessError(f"Shop API error: {response.status_code} {response.text[:1000]}")
        for value in body["data"].values():
            if isinstance(value, dict) and "errorCode" in value:
                raise HarnessError(f"Shop API ErrorResult: {value}")
        return body["data"]

    def close(self) -> None:
        self.client.close()


_SHOP_ORDER = "__typename ... on Order{id code state} ... on ErrorResult{errorCode message}"


def shop_checkout(base_url: str, lines: Sequence[tuple[str, int]], *, email: str,
                  first_name: str = "Anna", last_name: str = "Nowak", pay: bool = True,
                  checkout: bool = True) -> dict[str, Any]:
    """A storefront order: cart → customer → address → shipping → (ArrangingPayment →
    payment). With the dummy handler not settling automatically, a paid order ends in
    `PaymentAuthorized`: placed, stock allocated, not yet paid. Answers {id, code, state}."""
    shop = ShopApi(base_url)
    try:
        order: dict[str, Any] = {}
        for variant_id, quantity in lines:
            order = shop(f"mutation($v:ID!,$q:Int!){{addItemToOrder(productVariantId:$v,"
                         f"quantity:$q){{{_SHOP_ORDER}}}}}",
                         {"v": variant_id, "q": quantity})["addItemToOrder"]
        if not checkout:
            return order
        shop(f"mutation($i:CreateCustomerInput!){{setCustomerForOrder(input:$i){{{_SHOP_ORDER}}}}}",
             {"i": {"emailAddress": email, "firstName": first_name, "lastName": last_name}})
        shop("mutation($i:CreateAddressInput!){setOrderShippingAddress(input:$i){__typename}}",
             {"i": {"fullName": f"{first_name} {last_name}", "streetLine1": "ul. Krótka 1",
                    "city": "Gdańsk", "postalCode": "80-001", "countryCode": "PL",
                    "phoneNumber": "+48 500 600 700"}})
        methods = shop("{eligibleShippingMethods{id}}")["eligibleShippingMethods"]
        shop(f"mutation($s:[ID!]!){{setOrderShippingMethod(shippingMethodId:$s){{{_SHOP_ORDER}}}}}",
             {"s": [methods[0]["id"]]})
        order = shop(f"mutation{{transitionOrderToState(state:\"ArrangingPayment\"){{"
                     f"{_SHOP_ORDER}}}}}")["transitionOrderToState"]
        if pay:
            order = shop(f"mutation($i:PaymentInput!){{addPaymentToOrder(input:$i)"
                         f"{{{_SHOP_ORDER}}}}}",
                         {"i": {"method": "przelew", "metadata": {}}})["addPaymentToOrder"]
        return order
    finally:
        shop.close()


def settle_payments(api: AdminApi, order_id: str) -> None:
    """Settle the order's authorised payments, as the shop owner does when the money arrives."""
    order = api("query($id:ID!){order(id:$id){payments{id state}}}", {"id": order_id})["order"]
    for payment in order["payments"]:
        if payment["state"] == "Authorized":
            api("mutation($p:ID!){settlePayment(id:$p){__typename "
                "... on ErrorResult{errorCode message}}}", {"p": payment["id"]})


def ship_order(api: AdminApi, order_id: str, *, deliver: bool = False) -> None:
    """Fulfil every line with the manual handler and ship (and deliver) it, in the admin UI's
    steps."""
    order = api("query($id:ID!){order(id:$id){lines{id quantity}}}", {"id": order_id})["order"]
    fulfilment = api(
        "mutation($i:FulfillOrderInput!){addFulfillmentToOrder(input:$i){__typename "
        "... on Fulfillment{id} ... on ErrorResult{errorCode message}}}",
        {"i": {"lines": [{"orderLineId": line["id"], "quantity": line["quantity"]}
                         for line in order["lines"]],
               "handler": {"code": "manual-fulfillment", "arguments": [
                   {"name": "method", "value": "Kurier"},
                   {"name": "trackingCode", "value": "PL123"}]}}},
    )["addFulfillmentToOrder"]
    for state in ("Shipped", "Delivered") if deliver else ("Shipped",):
        api("mutation($id:ID!,$s:String!){transitionFulfillmentToState(id:$id,state:$s){"
            "__typename ... on ErrorResult{errorCode message}}}",
            {"id": fulfilment["id"], "s": state})


# -- by hand: `python -m tests.vendure.harness` -------------------------------------------------

#: ERP status → Vendure state, written by `--erp` (and used by the tests).
STATUS_MAP = {
    "new": "PaymentSettled",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}


def point_erp_at(db_url: str, base_url: str, api_key: str, integration_id: int = 1) -> None:
    """Make integration `integration_id` of an ERP database a Vendure integration of this
    server, with STATUS_MAP as its status mapping (replacing any other)."""
    from sqlalchemy import delete, insert, select, update

    from shared.db import make_engine
    from shared.erp import schema as erp

    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(erp.shop_integrations)
                         .where(erp.shop_integrations.c.id == integration_id)
                         .values(platform="vendure", base_url=base_url, api_key=api_key,
                                 api_secret=None))
            status_ids = dict(conn.execute(select(erp.order_statuses.c.code,
                                                  erp.order_statuses.c.id)).all())
            conn.execute(delete(erp.shop_status_map)
                         .where(erp.shop_status_map.c.integration_id == integration_id))
            conn.execute(insert(erp.shop_status_map), [
                {"integration_id": integration_id, "erp_status_id": status_ids[code],
                 "shop_status": state}
                for code, state in STATUS_MAP.items() if code in status_ids])
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.vendure.harness",
        description="Start the pinned Vendure test server on 127.0.0.1, set it up as a Polish "
                    "PLN shop with an API key, and keep it running until Ctrl-C.")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--erp", metavar="DB_URL",
                        help="also point integration 1 of this ERP database at the server")
    parser.add_argument("--products", type=int, default=0,
                        help="seed this many products (SKU VEN-0001…) with stock 100")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and `kill PID` both stop the Vendure process group too (a shell may start a
    # background job with SIGINT ignored, so SIGINT is set back to the default handler).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    node, npm = require_node()
    print(f"installing @vendure/core {VENDURE_VERSION} (first time only) …", flush=True)
    server = VendureServer(modules=install(npm), node=node)
    server.port = args.port
    server._spawn()
    try:
        server._wait_healthy()
        api = AdminApi(server.admin_url)
        setup = setup_shop(api)
        for n in range(1, args.products + 1):
            create_product(api, f"Produkt Vendure {n}", [{"sku": f"VEN-{n:04d}",
                                                          "price": 1000 + n * 100}])
        if args.erp:
            point_erp_at(args.erp, server.base_url, setup.api_key)
        print(f"Vendure {VENDURE_VERSION} at {server.base_url} (admin API {server.admin_url})\n"
              f"superadmin login: {SUPERADMIN} / {PASSWORD}\n"
              f"API key (role iluo-sync): {setup.api_key}\n"
              f"log: {server.log_path}\n"
              "Ctrl-C stops it (the in-memory database goes with it).", flush=True)
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
        print(f"Vendure exited:\n{server.log_tail()}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
