"""Alembic environment of the store (run through core.store.engine.migrate, no alembic.ini)."""
