from tests.marketplace.support import mp, mp_factory  # noqa: F401 - fixtures
from tests.sync.conftest import http_session, make_yclients, sandbox, sandbox_url, sleeps  # noqa: F401 - fixtures
