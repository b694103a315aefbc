"""One file per schema revision, oldest first (Alembic ignores this file)."""
