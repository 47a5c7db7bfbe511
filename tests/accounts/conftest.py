from tests.store.backends import pg_url, redis_prefix

__all__ = ["pg_url", "redis_prefix"]
