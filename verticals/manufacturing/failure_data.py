"""AI4I 2020 process runs: the adapter, a seeded generator of the AI4I rules, physics features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ID, TYPE, TARGET = "run_id", "product_type", "machine_failure"
MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")
NUMERIC = ("air_temperature_k", "process_temperature_k", "rotational_speed_rpm", "torque_nm",
           "tool_wear_min")
TYPES = ("L", "M", "H")
# Overstrain limit (tool wear × torque, min·Nm) per product type: the AI4I OSF rule.
OVERSTRAIN_LIMIT = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}
POWER_LOW_W, POWER_HIGH_W = 3_500.0, 9_000.0  # the PWF rule's band
HEAT_DELTA_K, HEAT_RPM = 8.6, 1_380.0  # the HDF rule: small delta T at low speed
TOOL_WINDOW = (200.0, 240.0)  # TWF: the tool is replaced or fails in this wear window
WEAR_PER_RUN = {"L": 2, "M": 3, "H": 5}
RULE_FEATURES = {"HDF": "heat", "PWF": "power", "OSF": "overstrain"}  # mode -> <name>_rule
# AI4I headers (bracketed units) -> schema columns.
AI4I_COLUMNS = {
    "UDI": ID, "Type": TYPE, "Air temperature [K]": "air_temperature_k",
    "Process temperature [K]": "process_temperature_k",
    "Rotational speed [rpm]": "rotational_speed_rpm", "Torque [Nm]": "torque_nm",
    "Tool wear [min]": "tool_wear_min", "Machine failure": TARGET,
    **{mode: mode for mode in MODES},
}


def ai4i(path: str | Path) -> pd.DataFrame:
    """The AI4I 2020 CSV (a folder holding ai4i2020.csv, or the file): BOM, CRLF and
    bracketed headers handled; Product ID dropped (the type letter is its first character)."""
    path = Path(path)
    file = path / "ai4i2020.csv" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no AI4I file; pass the folder holding ai4i2020.csv")
    raw = pd.read_csv(file, encoding="utf-8-sig")  # utf-8-sig strips the BOM; CRLF is read fine
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in AI4I_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{file}: missing AI4I columns {missing}; found {list(raw.columns)}")
    frame = raw[list(AI4I_COLUMNS)].rename(columns=AI4I_COLUMNS)
    frame[ID] = "RUN-" + frame[ID].astype(int).astype(str).str.zfill(6)
    for column in (TARGET, *MODES):
        frame[column] = frame[column].astype("Int64")
    return frame.reset_index(drop=True)


def mode_rules(frame: pd.DataFrame) -> pd.DataFrame:
    """The deterministic AI4I modes (HDF, PWF, OSF) of the inputs, as 0/1 columns."""
    delta = frame["process_temperature_k"] - frame["air_temperature_k"]
    power = power_w(frame)
    strain = frame["tool_wear_min"] * frame["torque_nm"]
    limit = frame[TYPE].map(OVERSTRAIN_LIMIT)
    return pd.DataFrame({
        "HDF": ((delta < HEAT_DELTA_K) & (frame["rotational_speed_rpm"] < HEAT_RPM)),
        "PWF": ((power < POWER_LOW_W) | (power > POWER_HIGH_W)),
        "OSF": strain > limit,
    }).astype(int)


def sample(rows: int, seed: int) -> pd.DataFrame:
    """`rows` process runs drawn by the published AI4I rules (seeded)."""
    rng = np.random.default_rng(seed)
    types = rng.choice(TYPES, size=rows, p=[0.6, 0.3, 0.1])
    air = 300 + np.cumsum(rng.normal(0, 0.1, rows))
    air = 300 + (air - air.mean()) / max(air.std(), 1e-9) * 2
    process = air + 10 + rng.normal(0, 1, rows)
    # Speed and torque are strongly anti-correlated in AI4I (a roughly constant power draw).
    rpm = np.clip(rng.normal(1540, 180, rows), 1160, 2890)
    torque = np.clip(40 - (rpm - 1540) * 0.045 + rng.normal(0, 6, rows), 3.0, 77.0)
    window = rng.uniform(*TOOL_WINDOW)
    wear, worn = np.zeros(rows), 0.0
    twf = np.zeros(rows, dtype=int)
    for i, kind in enumerate(types):
        worn += WEAR_PER_RUN[str(kind)]
        if worn >= window:  # the tool is replaced (or fails) in its window
            twf[i] = int(rng.random() < 0.5)
            worn, window = 0.0, rng.uniform(*TOOL_WINDOW)
        wear[i] = worn
    frame = pd.DataFrame({
        ID: [f"RUN-{i + 1:06d}" for i in range(rows)], TYPE: types,
        "air_temperature_k": air.round(1), "process_temperature_k": process.round(1),
        "rotational_speed_rpm": rpm.round().astype(int), "torque_nm": torque.round(1),
        "tool_wear_min": wear.astype(int),
    })
    rules = mode_rules(frame)
    frame["TWF"], frame["HDF"], frame["PWF"], frame["OSF"] = twf, rules.HDF, rules.PWF, rules.OSF
    frame["RNF"] = (rng.random(rows) < 0.001).astype(int)
    frame[TARGET] = frame[list(MODES)].max(axis=1)
    for column in (TARGET, *MODES):
        frame[column] = frame[column].astype("Int64")
    return frame[[ID, TYPE, *NUMERIC, TARGET, *MODES]]


def power_w(frame: pd.DataFrame) -> pd.Series:
    """Mechanical power P = torque × angular speed (2π·rpm/60), in W."""
    return frame["torque_nm"] * frame["rotational_speed_rpm"] * 2 * np.pi / 60


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """Physics features (inputs only, never a label column):
    temperature_delta_k = process − air (heat dissipation needs a gap of 8.6 K);
    power_w = torque × 2π·rpm/60 (outside 3,500–9,000 W the drive fails);
    overstrain_ratio = wear × torque / type limit (L 11,000, M 12,000, H 13,000 min·Nm);
    wear_to_window_min = wear − 200 (the tool-change window opens at 200 min);
    heat_risk = (8.6 K − delta T)⁺ × (1,380 rpm − rpm)⁺, > 0 only in the HDF region;
    heat_rule, power_rule, overstrain_rule = whether the run is inside each published failure
    region (0/1, computed from the readings exactly as the rules compare them: a rounded
    margin would miss a delta T of 8.5999… K, which the rule counts as below 8.6)."""
    if not set(NUMERIC) <= set(frame.columns) or TYPE not in frame.columns:
        return frame
    delta = frame["process_temperature_k"] - frame["air_temperature_k"]
    power = power_w(frame)
    strain = frame["tool_wear_min"] * frame["torque_nm"]
    limit = frame[TYPE].astype("object").map(OVERSTRAIN_LIMIT).astype(float)
    rules = mode_rules(frame.assign(**{TYPE: frame[TYPE].astype("object")}))
    return frame.assign(
        temperature_delta_k=delta.round(3), power_w=power.round(1),
        power_margin_w=np.minimum(power - POWER_LOW_W, POWER_HIGH_W - power).round(1),
        overstrain_ratio=(strain / limit).round(4),
        wear_to_window_min=frame["tool_wear_min"] - TOOL_WINDOW[0],
        heat_risk=((HEAT_DELTA_K - delta).clip(lower=0) * (HEAT_RPM - frame[
            "rotational_speed_rpm"]).clip(lower=0)).round(3),
        **{f"{name}_rule": rules[mode] for mode, name in RULE_FEATURES.items()},
    )


# --- reasons in the planner's words ------------------------------------------------------------
# Each phrase reads the scored frame (raw readings + the features above) and returns one
# sentence per row; the tabular Kind attaches it to a reason on that feature.


def _number(values: pd.Series, decimals: int = 0) -> pd.Series:
    """Thousands-separated text, the way a planner writes 9,350 W."""
    return values.astype(float).map(f"{{:,.{decimals}f}}".format)


def _power_text(frame: pd.DataFrame) -> pd.Series:
    power = power_w(frame)
    where = np.select([power > POWER_HIGH_W, power < POWER_LOW_W],
                      [f"above the {POWER_HIGH_W:,.0f} W limit",
                       f"below the {POWER_LOW_W:,.0f} W minimum"],
                      f"within {POWER_LOW_W:,.0f}–{POWER_HIGH_W:,.0f} W")
    return "power " + _number(power) + " W, " + pd.Series(where, index=frame.index)


def _wear_text(frame: pd.DataFrame) -> pd.Series:
    wear = frame["tool_wear_min"].astype(float)
    low, high = TOOL_WINDOW
    where = np.select([wear >= high, wear >= low],
                      [f"past the {low:.0f}–{high:.0f} min tool-change window",
                       f"in the {low:.0f}–{high:.0f} min tool-change window"],
                      f"before the tool-change window opens at {low:.0f} min")
    return "tool wear " + _number(wear) + " min, " + pd.Series(where, index=frame.index)


def _strain_text(frame: pd.DataFrame) -> pd.Series:
    strain = frame["tool_wear_min"].astype(float) * frame["torque_nm"].astype(float)
    kind = frame[TYPE].astype("object").astype(str)
    limit = kind.map(OVERSTRAIN_LIMIT).astype(float)
    side = pd.Series(np.where(strain > limit, "above", "below"), index=frame.index)
    return ("overstrain " + _number(strain) + " min·Nm, " + side + " type " + kind + "'s "
            + _number(limit) + " limit")


def _heat_text(frame: pd.DataFrame) -> pd.Series:
    delta = frame["process_temperature_k"].astype(float) - frame["air_temperature_k"].astype(
        float)
    rpm = frame["rotational_speed_rpm"].astype(float)
    side = pd.Series(np.where(delta < HEAT_DELTA_K, "below", "above"), index=frame.index)
    text = "temperature difference " + _number(delta, 1) + " K, " + side + f" {HEAT_DELTA_K} K"
    # Heat only fails to dissipate when the spindle is slow too: say so when it is.
    slow = text + ", at " + _number(rpm) + f" rpm (below {HEAT_RPM:,.0f})"
    return slow.where(rpm < HEAT_RPM, text)


def _torque_text(frame: pd.DataFrame) -> pd.Series:
    return "torque " + _number(frame["torque_nm"], 1) + " Nm"


def _speed_text(frame: pd.DataFrame) -> pd.Series:
    return "speed " + _number(frame["rotational_speed_rpm"]) + " rpm"


REASON_TEXT = {
    "power_w": _power_text, "power_margin_w": _power_text,
    "tool_wear_min": _wear_text, "wear_to_window_min": _wear_text,
    "overstrain_ratio": _strain_text,
    "temperature_delta_k": _heat_text, "heat_risk": _heat_text,
    "heat_rule": _heat_text, "power_rule": _power_text, "overstrain_rule": _strain_text,
    "torque_nm": _torque_text, "rotational_speed_rpm": _speed_text,
}
