"""The web console (`iluo-sync console`), the Konfigurator in a browser: the service, the
tenants with their emergency switch, a tenant's integrations with Run now and its last 24
hours, the event history; accounts for the operator and for hosted customers.

web (routes, the app) → context (session, CSRF, access) → pages (the handlers) → queries,
actions, chart, accounts, throttle, i18n; templates/ and static/ ship in the package.
"""
