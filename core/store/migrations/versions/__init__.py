"""Alembic revisions of the core tables (a package so non-editable installs ship them)."""
