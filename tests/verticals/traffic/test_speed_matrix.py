"""The speed_matrix adapter: layouts it accepts and bad input it refuses, naming file/row/sensor."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from verticals.traffic.network import road_network, write
from verticals.traffic.speed_matrix import SpeedMatrixError, load, speed_matrix


def _files(tmp_path: Path, speed: str, adj: str) -> Path:
    (tmp_path / "speed.csv").write_text(speed)
    (tmp_path / "adj.csv").write_text(adj)
    return tmp_path


GOOD = "date,a,b\n2024-01-01 00:00,10,20\n2024-01-01 00:15,11,\n2024-01-01 00:30,12,22\n"


def test_reads_date_column_missing_cells_and_headerless_adjacency(tmp_path):
    m = load(_files(tmp_path, GOOD, "0,1\n0,0\n"))
    assert m.sensors == ("a", "b")
    assert m.step == pd.Timedelta("15min")
    assert np.isnan(m.speed[1, 1]) and m.speed[2, 0] == 12
    assert m.adjacency.tolist() == [[0, 1], [0, 0]]  # asymmetric kept as given
    frame = speed_matrix(tmp_path)
    assert len(frame) == 6 and list(frame.columns) == ["sensor", "time", "speed"]


def test_start_and_freq_when_no_date_column(tmp_path):
    _files(tmp_path, "a,b\n1,2\n3,4\n5,6\n", "0,1\n1,0\n")
    with pytest.raises(SpeedMatrixError, match="--start"):
        load(tmp_path)
    m = load(tmp_path, start="2024-01-01", freq="5min")
    assert m.times[2] == pd.Timestamp("2024-01-01 00:10")


def test_adjacency_header_reorders_to_speed_sensors(tmp_path):
    m = load(_files(tmp_path, GOOD, "b,a\n0,0.5\n0,0\n"))
    # b -> a with weight 0.5, in (a, b) order: row a col b is 0, row b col a is 0.5
    assert m.adjacency.tolist() == [[0, 0], [0.5, 0]]


@pytest.mark.parametrize(("speed", "adj", "message"), [
    (GOOD, "0,1,0\n0,0,0\n0,0,0\n", r"adj.csv: adjacency is 3 x 3, the speed file has 2"),
    (GOOD, "a,zz\n0,1\n0,0\n", r"adj.csv: row 1: sensor ids \['zz'\]"),
    (GOOD.replace(",11,", ",fast,"), "0,1\n0,0\n", r"speed.csv: row 3, sensor 'a': 'fast'"),
    (GOOD.replace(",22", ",-3"), "0,1\n0,0\n", r"speed.csv: row 4, sensor 'b': negative"),
    (GOOD.replace("00:30", "00:15"), "0,1\n0,0\n", r"speed.csv: row 4: duplicate timestamp"),
    (GOOD.replace("00:30", "00:45"), "0,1\n0,0\n", r"speed.csv: row 4: irregular time step"),
])
def test_bad_input_names_file_row_and_sensor(tmp_path, speed, adj, message):
    with pytest.raises(SpeedMatrixError, match=message):
        load(_files(tmp_path, speed, adj))


def test_generator_is_seeded_and_round_trips(tmp_path):
    a, adj = road_network(n_sensors=6, days=2, seed=3)
    b, _ = road_network(n_sensors=6, days=2, seed=3)
    pd.testing.assert_frame_equal(a, b)
    write(str(tmp_path), n_sensors=6, days=2, freq="5min", seed=1)
    m = load(tmp_path)
    assert m.speed.shape == (2 * 288, 6) and m.step == pd.Timedelta("5min")
    assert (m.speed == 0).sum() == 24  # the 2-hour zero outage
