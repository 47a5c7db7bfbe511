"""Virtual keys, tenants, users and roles, budgets, rate limits, the cost catalog and webhooks.

The request path reads only in-memory state (the key table, compiled prices, counters); every
database write happens behind the request (see ``store.queue``).
"""
