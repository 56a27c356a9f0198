"""Vertical Tasks: one package per industry, one module per Task.

BUILTIN_TASKS is the alphabetical map of lazy "module:TASK" references; a Task from another
package registers through the `verticals.tasks` entry-point group instead.
"""

BUILTIN_TASKS: dict[str, str] = {
    "finance.credit_scoring": "verticals.finance.credit_scoring:TASK",
    "finance.stock_forecasting": "verticals.finance.stock_forecasting:TASK",
    "healthcare.imaging_diagnosis": "verticals.healthcare.imaging_diagnosis:TASK",
}
