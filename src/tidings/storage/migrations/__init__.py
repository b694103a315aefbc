"""Alembic environment and revisions for the Tidings schema, run by `tidings.storage.migrate`.

There is no alembic.ini: the Config is built in code. To add a revision, change `storage/schema.py`,
then, against a database migrated to the current head:

    python -c "from alembic import command; from tidings.storage.migrate import alembic_config as c; \
        command.revision(c(), 'add beams instances', autogenerate=True, rev_id='0002')"

(the database is the one TIDINGS_DATA_DIR / TIDINGS_DATABASE_URL point to). Review the generated
file: it must work on SQLite (batch mode is on) and PostgreSQL, and the schema test compares the
migrated database with `schema.py` on both.
"""
