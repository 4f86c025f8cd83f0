"""Response data: constructors, CSV/Parquet readers and every input-error path."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from calibration import CalibrationInputError, ResponseData, fit, read_responses


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- happy paths
def test_wide_csv_with_missing_cells(tmp_path):
    path = write(tmp_path, "wide.csv", "q1,q2,q3\n1,0,\n0,NA,1\n1,1,1\n")
    data = read_responses(path)
    assert data.item_ids == ("q1", "q2", "q3")
    assert data.n_persons == 3 and data.n_responses == 7
    dense = data.dense()
    assert np.isnan(dense[0, 2]) and np.isnan(dense[1, 1])
    np.testing.assert_array_equal(dense[2], [1, 1, 1])
    assert data.item_counts().tolist() == [3, 2, 2]


def test_wide_csv_with_person_column_and_blank_trailing_line(tmp_path):
    path = write(tmp_path, "wide.csv", "person,a,b\np1,1,0\np2,0,1\n\n")
    data = read_responses(path)
    assert data.item_ids == ("a", "b")
    assert list(data.person_ids) == ["p1", "p2"]
    np.testing.assert_array_equal(data.dense(), [[1, 0], [0, 1]])


def test_long_csv(tmp_path):
    path = write(tmp_path, "long.csv", "person,item,score\nann,x,1\nann,y,0\nbob,y,1\nbob,z,NA\ncid,x,0\n")
    data = read_responses(path)
    assert data.item_ids == ("x", "y")            # z only had a missing score
    assert list(data.person_ids) == ["ann", "bob", "cid"]
    assert data.n_responses == 4
    dense = data.dense()
    assert dense[1, 1] == 1 and np.isnan(dense[1, 0])


def test_long_csv_columns_in_any_order_and_extra_columns(tmp_path):
    path = write(tmp_path, "long.csv", "score,when,item,person\n1,mon,x,ann\n0,tue,x,bob\n")
    data = read_responses(path)
    assert data.item_ids == ("x",) and data.n_responses == 2


def test_from_dense_and_from_long_agree():
    rng = np.random.default_rng(0)
    x = (rng.random((40, 6)) < 0.6).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0] = 1.0
    dense = ResponseData.from_dense(x, item_ids=list("abcdef"))
    rows, cols = np.nonzero(~np.isnan(x))
    long = ResponseData.from_long(rows, np.array(list("abcdef"))[cols], x[rows, cols], item_ids=list("abcdef"))
    np.testing.assert_array_equal(dense.dense(), long.dense())


def test_subset_and_counts():
    data = ResponseData.from_dense([[1, 0, None], [0, 1, 1], [1, None, 0]], item_ids=["a", "b", "c"])
    sub = data.subset(items=["c", "a"], persons=[1, 2])
    assert sub.item_ids == ("c", "a")
    np.testing.assert_array_equal(sub.dense(), [[1, 0], [0, 1]])
    assert data.person_counts().tolist() == [2, 3, 2]


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_roundtrip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"person": ["p1", "p2", "p3"], "item": ["x", "x", "y"], "score": [1, 0, 1]})
    pq.write_table(table, tmp_path / "r.parquet")
    data = read_responses(tmp_path / "r.parquet")
    assert data.item_ids == ("x", "y") and data.n_responses == 3


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_is_a_clear_error(tmp_path):
    path = write(tmp_path, "r.parquet", "not really parquet")
    with pytest.raises(CalibrationInputError, match="pyarrow"):
        read_responses(path)


# ---------------------------------------------------------------- error paths
def test_error_is_a_value_error():
    assert issubclass(CalibrationInputError, ValueError)


def test_empty_file(tmp_path):
    with pytest.raises(CalibrationInputError, match="empty file"):
        read_responses(write(tmp_path, "e.csv", ""))
    with pytest.raises(CalibrationInputError, match="empty file"):
        read_responses(write(tmp_path, "blank.csv", "\n\n"))


def test_header_only(tmp_path):
    with pytest.raises(CalibrationInputError, match="header only"):
        read_responses(write(tmp_path, "h.csv", "q1,q2\n"))
    with pytest.raises(CalibrationInputError, match="header only"):
        read_responses(write(tmp_path, "h2.csv", "person,item,score\n"))


def test_ragged_row_names_line(tmp_path):
    path = write(tmp_path, "r.csv", "q1,q2,q3\n1,0,1\n1,0\n")
    with pytest.raises(CalibrationInputError, match=r"line 3: 2 fields, expected 3"):
        read_responses(path)


def test_non_numeric_score_names_line_and_column(tmp_path):
    path = write(tmp_path, "n.csv", "q1,q2,q3\n1,0,1\n1,yes,0\n")
    with pytest.raises(CalibrationInputError, match=r"line 3, column 2 \(item 'q2'\): score 'yes' is not numeric"):
        read_responses(path)


def test_non_numeric_score_long_format(tmp_path):
    path = write(tmp_path, "n.csv", "person,item,score\na,x,1\nb,x,two\n")
    with pytest.raises(CalibrationInputError, match=r"line 3, column 3 \(score\): 'two' is not numeric"):
        read_responses(path)


def test_non_integer_and_negative_scores(tmp_path):
    with pytest.raises(CalibrationInputError, match=r"line 2, column 2 \(item 'q2'\): score 0.5 is not an integer"):
        read_responses(write(tmp_path, "f.csv", "q1,q2\n1,0.5\n"))
    with pytest.raises(CalibrationInputError, match=r"line 3, column 1 \(item 'q1'\): score -1 is negative"):
        read_responses(write(tmp_path, "g.csv", "q1,q2\n1,0\n-1,0\n"))


def test_item_nobody_answered(tmp_path):
    path = write(tmp_path, "u.csv", "person,q1,q2,q3\np1,1,,0\np2,0,NA,1\n")
    with pytest.raises(CalibrationInputError, match=r"column 3 \(item 'q2'\): no responses"):
        read_responses(path)
    with pytest.raises(CalibrationInputError, match=r"column 2 item 'b' has no responses"):
        ResponseData.from_dense([[1, np.nan], [0, np.nan]], item_ids=["a", "b"])
    with pytest.raises(CalibrationInputError, match="item 'c' has no responses"):
        ResponseData.from_long(["p", "q"], ["a", "b"], [1, 0], item_ids=["a", "b", "c"])


def test_duplicate_item_ids(tmp_path):
    path = write(tmp_path, "d.csv", "q1,q2,q1\n1,0,1\n")
    with pytest.raises(CalibrationInputError,
                       match=r"line 1, column 3: duplicate item id 'q1' \(first seen at .*column 1\)"):
        read_responses(path)
    with pytest.raises(CalibrationInputError, match="duplicate item id 'x'"):
        ResponseData.from_dense([[1, 0]], item_ids=["x", "x"])


def test_duplicate_person_rows_and_long_entries(tmp_path):
    with pytest.raises(CalibrationInputError, match=r"line 3, column 1: duplicate person id 'p1'"):
        read_responses(write(tmp_path, "p.csv", "person,q1\np1,1\np1,0\n"))
    with pytest.raises(CalibrationInputError, match=r"line 3 \(person 'a', item 'x'\): duplicate response"):
        read_responses(write(tmp_path, "l.csv", "person,item,score\na,x,1\na,x,0\n"))


def test_dense_shape_errors():
    with pytest.raises(CalibrationInputError, match="must be 2-D"):
        ResponseData.from_dense(np.array([1.0, 0.0, 1.0]))
    with pytest.raises(CalibrationInputError, match="row 2 has 1 values, expected 2"):
        ResponseData.from_dense([[1, 0], [1]])
    with pytest.raises(CalibrationInputError, match=r"row 2, column 1: score 'x' is not numeric"):
        ResponseData.from_dense([[1, 0], ["x", 1]])
    with pytest.raises(CalibrationInputError, match="3 item ids for 2 matrix columns"):
        ResponseData.from_dense([[1, 0]], item_ids=["a", "b", "c"])


def test_scores_outside_model_categories_point_at_the_cell(tmp_path):
    path = write(tmp_path, "c.csv", "q1,q2\n1,0\n0,2\n1,1\n")
    data = read_responses(path)
    with pytest.raises(CalibrationInputError, match=r"line 3, column 2 \(item 'q2'\): score 2 is outside the 2PL"):
        fit(data, "2PL")
    with pytest.raises(CalibrationInputError, match=r"score 2 is outside the GRM model's categories \(0..1\)"):
        fit(data, "GRM", n_categories=2)


def test_missing_file_and_unknown_options(tmp_path):
    with pytest.raises(CalibrationInputError, match="file not found"):
        read_responses(tmp_path / "nope.csv")
    data = ResponseData.from_dense([[1, 0], [0, 1]])
    with pytest.raises(CalibrationInputError, match="unknown model"):
        fit(data, "4PL")
    with pytest.raises(CalibrationInputError, match="unknown backend"):
        fit(data, "2PL", backend="stan")
    with pytest.raises(CalibrationInputError, match="unknown item id 'zz'"):
        fit(data, "2PL", fixed={"zz": {"a": 1, "b": 0}})


# ---------------------------------------------------------------- property: CSV round trip
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6).flatmap(lambda j: st.lists(
    st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=j, max_size=j), min_size=1, max_size=12)))
def test_wide_and_long_csv_round_trip(tmp_path_factory, rows):
    matrix = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)
    answered = ~np.isnan(matrix).all(axis=0)
    if not answered.all():
        with pytest.raises(CalibrationInputError, match="no responses"):
            ResponseData.from_dense(matrix)
        return
    data = ResponseData.from_dense(matrix)
    folder = tmp_path_factory.mktemp("rt")
    wide = folder / "w.csv"
    wide.write_text(",".join(data.item_ids) + "\n" + "\n".join(
        ",".join("" if np.isnan(v) else str(int(v)) for v in r) for r in matrix) + "\n")
    long = folder / "l.csv"
    long.write_text("person,item,score\n" + "\n".join(
        f"p{data.person_idx[k]},{data.item_ids[data.item_idx[k]]},{data.score[k]}"
        for k in range(data.n_responses)) + "\n")
    from_wide = read_responses(wide)
    if matrix.shape[1] == 1:           # a blank line is skipped: one-column files lose empty rows
        matrix = matrix[~np.isnan(matrix[:, 0])]
    np.testing.assert_array_equal(from_wide.dense(), matrix)
    from_long = read_responses(long)
    assert from_long.n_responses == data.n_responses
    assert sorted(from_long.item_ids) == sorted(data.item_ids)
