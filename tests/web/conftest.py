from tests.marketplace.support import mp, mp_factory  # noqa: F401 - fixtures
