"""Alembic environment and revisions for the Tidings schema (run by `tidings.storage.migrate`)."""
