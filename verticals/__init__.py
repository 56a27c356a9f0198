"""Vertical Tasks: one package per industry, one module per Task exporting `TASK`.

Each built-in Task is an entry point of group `verticals.tasks` in pyproject.toml
(`"finance.credit_scoring" = "verticals.finance.credit_scoring:TASK"`); a Task from another
package registers the same way in that package's own metadata. core never imports this package.
"""
