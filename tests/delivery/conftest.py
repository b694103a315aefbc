"""Delivery tests run on real storage, SQLite and PostgreSQL alike (the storage contract fixtures)."""

from __future__ import annotations

from tests.storage.conftest import _no_tidings_env, backend_url, pg_url, storage

__all__ = ["_no_tidings_env", "backend_url", "pg_url", "storage"]
