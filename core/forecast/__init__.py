"""Forecasting machinery: panels, walk-forward backtests, metrics, risk,
pytorch-forecasting glue."""
