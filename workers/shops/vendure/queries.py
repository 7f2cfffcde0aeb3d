"""The GraphQL documents the Vendure connector sends to the Admin API (`/admin-api`).

Kept in one place so the whole surface we depend on can be read (and checked against a new
Vendure version) at a glance. Every mutation that returns a union asks for `__typename` and the
`ErrorResult` fields, because Vendure reports expected failures (a refused state transition, an
invalid fulfilment) as typed results inside `data` with HTTP 200, not as GraphQL errors.
"""

from __future__ import annotations

ERROR_RESULT = "... on ErrorResult { errorCode message }"

# -- session and settings ---------------------------------------------------------------------

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    __typename
    ... on CurrentUser { id identifier }
    ... on ErrorResult { errorCode message }
  }
}"""

#: Everything the connector needs to know about the channel, read once per client (only by
#: the product and stock operations).
CHANNEL = """
query IluoChannel {
  activeChannel {
    id code defaultLanguageCode defaultCurrencyCode pricesIncludeTax
    defaultTaxZone { id }
  }
  taxRates(options: { take: 1000 }) {
    items { id value enabled zone { id } category { id isDefault } customerGroup { id } }
  }
  stockLocations(options: { take: 1000, sort: { id: ASC } }) { items { id name } }
}"""

#: Asked only after a FORBIDDEN: `activeChannel` needs nothing beyond being authenticated, so a
#: FORBIDDEN here means the credentials themselves were not accepted.
CHANNEL_PROBE = """
query IluoWhoAmI {
  activeChannel { id }
}"""

# -- orders -----------------------------------------------------------------------------------

ADDRESS_FIELDS = "fullName company streetLine1 streetLine2 city postalCode countryCode phoneNumber"

ORDER_FIELDS = f"""
  id code state active createdAt updatedAt orderPlacedAt currencyCode
  totalWithTax shippingWithTax
  customer {{ id emailAddress firstName lastName phoneNumber }}
  shippingAddress {{ {ADDRESS_FIELDS} }}
  billingAddress {{ {ADDRESS_FIELDS} }}
  lines {{
    id quantity orderPlacedQuantity unitPriceWithTax proratedUnitPriceWithTax taxRate
    productVariant {{ id sku name }}
  }}
  shippingLines {{ shippingMethod {{ code name }} }}
  payments {{ id method amount state updatedAt refunds {{ total state }} }}
  fulfillments {{ id state updatedAt }}
"""

ORDERS = f"""
query IluoOrders($options: OrderListOptions) {{
  orders(options: $options) {{ totalItems items {{ {ORDER_FIELDS} }} }}
}}"""

#: The daily reconciliation: ids only. The resolver joins only the relations a selection
#: names, so this is the lightest order read there is.
ORDER_IDS = """
query IluoOrderIds($options: OrderListOptions) {
  orders(options: $options) { items { id } }
}"""

#: Closed orders' change stamps: a fulfilment delivering the order moves only its own
#: `updatedAt`, so these are what says a closed order changed.
ORDER_STAMPS = """
query IluoOrderStamps($options: OrderListOptions) {
  orders(options: $options) {
    items { id updatedAt payments { updatedAt } fulfillments { updatedAt } }
  }
}"""

#: What a status write needs to decide its steps: state, lines and existing fulfilments.
ORDERS_FOR_STATUS = """
query IluoOrdersForStatus($options: OrderListOptions) {
  orders(options: $options) {
    totalItems
    items {
      id state
      lines { id quantity }
      fulfillments { id state lines { orderLineId quantity } }
    }
  }
}"""

TRANSITION_ORDER = """
mutation IluoTransitionOrder($id: ID!, $state: String!) {
  transitionOrderToState(id: $id, state: $state) {
    __typename
    ... on Order { id state }
    ... on OrderStateTransitionError { errorCode message transitionError fromState toState }
  }
}"""

ADD_FULFILLMENT = f"""
mutation IluoAddFulfillment($input: FulfillOrderInput!) {{
  addFulfillmentToOrder(input: $input) {{
    __typename
    ... on Fulfillment {{ id state }}
    {ERROR_RESULT}
  }}
}}"""

TRANSITION_FULFILLMENT = """
mutation IluoTransitionFulfillment($id: ID!, $state: String!) {
  transitionFulfillmentToState(id: $id, state: $state) {
    __typename
    ... on Fulfillment { id state }
    ... on FulfillmentStateTransitionError { errorCode message transitionError fromState toState }
  }
}"""

CANCEL_ORDER = f"""
mutation IluoCancelOrder($input: CancelOrderInput!) {{
  cancelOrder(input: $input) {{
    __typename
    ... on Order {{ id state }}
    {ERROR_RESULT}
  }}
}}"""

# -- products ---------------------------------------------------------------------------------

VARIANT_FIELDS = """
  id sku name enabled createdAt updatedAt price priceWithTax currencyCode
  taxRateApplied { value }
  product { id name description enabled updatedAt variantList { totalItems } }
"""

VARIANTS = f"""
query IluoVariants($options: ProductVariantListOptions) {{
  productVariants(options: $options) {{ totalItems items {{ {VARIANT_FIELDS} }} }}
}}"""

#: Products changed in a window, with their variants: renaming a product or changing its
#: description does not bump its variants' `updatedAt`, so a variant-only delta would miss it.
PRODUCTS_WITH_VARIANTS = f"""
query IluoProducts($options: ProductListOptions) {{
  products(options: $options) {{
    totalItems
    items {{
      id updatedAt
      variants {{ {VARIANT_FIELDS} }}
    }}
  }}
}}"""

VARIANT_IDS_BY_SKU = """
query IluoVariantsBySku($options: ProductVariantListOptions) {
  productVariants(options: $options) { totalItems items { id sku } }
}"""

#: A variant's parent and how many variants the parent has (an ERP product maps to a single
#: variant; the parent's name and description are only ours to change when it has no others).
VARIANTS_FOR_UPDATE = """
query IluoVariantsForUpdate($options: ProductVariantListOptions) {
  productVariants(options: $options) {
    totalItems
    items { id product { id variantList { totalItems } } }
  }
}"""

VARIANT_STOCK = """
query IluoVariantStock($options: ProductVariantListOptions) {
  productVariants(options: $options) {
    totalItems
    items { id stockLevels { stockLocationId stockOnHand stockAllocated } }
  }
}"""

DELETE_PRODUCT = """
mutation IluoDeleteProduct($id: ID!) {
  deleteProduct(id: $id) { result message }
}"""

CREATE_VARIANTS = """
mutation IluoCreateVariants($input: [CreateProductVariantInput!]!) {
  createProductVariants(input: $input) { id sku product { id } }
}"""

UPDATE_PRODUCTS = """
mutation IluoUpdateProducts($input: [UpdateProductInput!]!) {
  updateProducts(input: $input) { id }
}"""

UPDATE_VARIANTS = """
mutation IluoUpdateVariants($input: [UpdateProductVariantInput!]!) {
  updateProductVariants(input: $input) { id }
}"""
