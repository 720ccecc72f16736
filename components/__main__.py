"""``python -m basis.components NAME --nats URL``: run one component in this process."""

from __future__ import annotations

import sys

from basis.process import main

if __name__ == "__main__":
    sys.exit(main())
