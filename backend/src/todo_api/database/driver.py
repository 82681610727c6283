"""The SQLAlchemy driver name every database URL of the app carries.

Its own module so that `url` and `embedded` both import it and neither imports the other back.
"""

from __future__ import annotations

DRIVER = "postgresql+psycopg"
