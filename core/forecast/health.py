"""Sensor health: missing readings, stuck sensors and implausible zeros, per sensor and step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISSING, STUCK, ZERO = 1, 2, 4


@dataclass(frozen=True)
class Health:
    """Bit flags (T, N): MISSING | STUCK | ZERO; `ok` is where none is set."""

    flags: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.flags == 0

    def counts(self, sensors: tuple[str, ...] | list[str]) -> dict[str, dict[str, int]]:
        """Per flagged sensor: how many steps are missing / stuck / zero."""
        out = {}
        for j, sensor in enumerate(sensors):
            column = self.flags[:, j]
            c = {"missing": int(((column & MISSING) > 0).sum()),
                 "stuck": int(((column & STUCK) > 0).sum()),
                 "zero": int(((column & ZERO) > 0).sum())}
            if any(c.values()):
                out[str(sensor)] = c
        return out

    def totals(self) -> dict[str, int]:
        return {"missing": int(((self.flags & MISSING) > 0).sum()),
                "stuck": int(((self.flags & STUCK) > 0).sum()),
                "zero": int(((self.flags & ZERO) > 0).sum()),
                "flagged": int((self.flags > 0).sum()), "cells": int(self.flags.size)}


def flag(speed: np.ndarray, stuck_steps: int) -> Health:
    """Flags for a (T, N) speed matrix. A run of `stuck_steps` or more identical non-zero
    readings is stuck (real speeds jitter); a zero is implausible on a road (usually: no probe
    passed), so it is flagged rather than learnt as a traffic jam."""
    speed = np.asarray(speed, dtype=float)
    flags = np.zeros(speed.shape, dtype=np.int8)
    flags[np.isnan(speed)] |= MISSING
    flags[speed == 0] |= ZERO
    same = np.zeros(speed.shape, dtype=bool)
    same[1:] = (speed[1:] == speed[:-1]) & (speed[1:] != 0)
    # run lengths of equal consecutive values, per sensor
    for j in range(speed.shape[1]):
        run_start = 0
        for t in range(1, speed.shape[0] + 1):
            if t < speed.shape[0] and same[t, j]:
                continue
            if t - run_start >= stuck_steps:
                flags[run_start:t, j] |= STUCK
            run_start = t
    return Health(flags)
