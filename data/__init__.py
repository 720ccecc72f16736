"""The bundled historical dataset (see ``README.md`` in this folder): CSV files up to 2025-06-30."""

from __future__ import annotations

from pathlib import Path

DATA_ROOT: Path = Path(__file__).resolve().parent
"""Root folder of the bundled dataset (the default ``--data`` root)."""

__all__ = ["DATA_ROOT"]
