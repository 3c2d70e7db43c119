"""`python -m gateway` is `ai-admin`."""

import sys

from gateway.cli import main

sys.exit(main())
