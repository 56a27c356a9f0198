"""Tests (a package so `core` resolves to the project, not to tests/core)."""
