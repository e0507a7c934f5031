"""Data sets: teacher-student generator, scikit-learn digits, user arrays (.npz/.csv), splits, checks."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.data import Dataset, digits, from_arrays, load_arrays, split, teacher_student


def test_teacher_student_is_seeded_and_shaped():
    a = teacher_student(n_in=5, n_out=2, n_train=40, n_test=10, teacher_hidden=(6, 3), seed=7)
    b = teacher_student(n_in=5, n_out=2, n_train=40, n_test=10, teacher_hidden=(6, 3), seed=7)
    c = teacher_student(n_in=5, n_out=2, n_train=40, n_test=10, teacher_hidden=(6, 3), seed=8)
    assert a.x_train.shape == (40, 5) and a.t_test.shape == (10, 2)
    assert np.array_equal(a.t_train, b.t_train) and not np.array_equal(a.t_train, c.t_train)
    assert a.info["teacher_sizes"] == [5, 6, 3, 2] and a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_teacher_student_label_noise_and_linear_teacher():
    ds = teacher_student(n_in=3, n_out=1, n_train=4000, n_test=0, teacher_hidden=(), label_noise=0.5, seed=1)
    ws = [np.zeros((1, 3))]
    teacher = Network(ws, activations="identity").with_theta(np.asarray(ds.info["teacher_theta"]))
    resid = ds.t_train - teacher.predict(ds.x_train)
    assert resid.std() == pytest.approx(0.5, rel=0.05)  # SE of a std from 4000 samples ~1.1 %
    clean = teacher_student(n_in=3, n_out=1, n_train=50, n_test=0, teacher_hidden=(), label_noise=0.0, seed=1)
    np.testing.assert_allclose(clean.t_train, teacher.predict(clean.x_train)[:50], atol=1e-12)


def test_teacher_student_dtype_and_bad_arguments():
    assert teacher_student(n_train=5, n_test=1, seed=0, dtype="float32").x_train.dtype == np.float32
    with pytest.raises(ValueError, match="label_noise"):
        teacher_student(label_noise=-1.0)
    with pytest.raises(ValueError, match="n_train"):
        teacher_student(n_train=0)
    with pytest.raises(TypeError, match="n_in"):
        teacher_student(n_in=2.5)


def test_digits():
    ds = digits(seed=0)
    assert ds.n_in == 64 and ds.n_out == 10 and ds.n_train + ds.n_test == 1797
    assert np.all(ds.t_train.sum(axis=1) == 1) and abs(ds.x_train.mean()) < 1e-12  # one-hot, centred
    two = digits(classes=(3, 8), target="pm1", center=False, seed=1)
    assert two.n_out == 1 and set(np.unique(two.t_train)) == {-1.0, 1.0}
    assert two.x_train.min() >= 0 and two.x_train.max() <= 1
    with pytest.raises(ValueError, match="two classes"):
        digits(target="pm1")
    with pytest.raises(ValueError, match="classes"):
        digits(classes=(1, 1))


def test_split_and_from_arrays():
    x, t = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    ds = split(x, t, 0.25, seed=3)
    assert (ds.n_train, ds.n_test) == (15, 5)
    assert sorted(np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]]).tolist()) == x[:, 0].tolist()
    assert split(x, t, 0.0).n_test == 0 and split(x, t, 0.99).n_train == 1
    d2 = from_arrays(x, t, x[:3], t[:3])
    assert d2.n_test == 3 and d2.t_train.shape == (20, 1)
    with pytest.raises(ValueError, match="test_fraction"):
        split(x, t, 1.0)
    with pytest.raises(ValueError, match="both"):
        from_arrays(x, t, x_test=x)


@pytest.mark.parametrize("x, t, match", [
    (np.zeros((0, 2)), np.zeros((0, 1)), "empty"),
    (np.zeros((3, 2)), np.zeros((4, 1)), "same number of rows"),
    (np.zeros((3, 2)), np.array([[0.0], [np.nan], [1.0]]), r"t_train must be finite.*row 1"),
    (np.array([[np.inf, 0.0]] * 3), np.zeros((3, 1)), "x_train must be finite"),
    (np.zeros((3, 2, 2)), np.zeros((3, 1)), "2-D"),
])
def test_bad_arrays_are_refused(x, t, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(x, t)


def test_check_network_names_the_mismatch():
    ds = from_arrays(np.zeros((4, 3)), np.zeros((4, 2)))
    ds.check_network(Network.create([3, 4, 2], seed=0))
    with pytest.raises(ValueError, match="3 features but the network's input layer has 5"):
        ds.check_network(Network.create([5, 4, 2], seed=0))
    with pytest.raises(ValueError, match="2 columns but the network's output layer has 1"):
        ds.check_network(Network.create([3, 4, 1], seed=0))


def test_load_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.random.default_rng(0).standard_normal((12, 3)), t=np.arange(12.0))
    ds = load_arrays(p, test_fraction=0.25, seed=1)
    assert (ds.n_train, ds.n_test, ds.n_out) == (9, 3, 1)
    q = tmp_path / "held.npz"
    np.savez(q, inputs=np.ones((5, 2)), y=np.ones((5, 1)), x_test=np.ones((2, 2)), t_test=np.ones((2, 1)))
    ds2 = load_arrays(q, x_key="inputs", t_key="y")
    assert (ds2.n_train, ds2.n_test) == (5, 2)
    with pytest.raises(ValueError, match="no array 'x'"):
        load_arrays(q)
    obj = tmp_path / "obj.npz"
    np.savez(obj, x=np.array([{"a": 1}] * 3, dtype=object), t=np.zeros(3))
    with pytest.raises((ValueError, TypeError)):
        load_arrays(obj)  # object arrays need pickle: refused


def test_load_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,target\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n")
    ds = load_arrays(p, test_fraction=0.25, seed=0)
    assert ds.n_in == 2 and ds.n_out == 1 and ds.n_train == 3
    two = load_arrays(p, n_targets=2, test_fraction=0.0)
    assert two.n_in == 1 and two.n_out == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="line 2"):
        load_arrays(bad)
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2,3\n4,5,nan\n")
    with pytest.raises(ValueError, match="finite"):
        load_arrays(nan, test_fraction=0.0)
    word = tmp_path / "word.csv"
    word.write_text("1,2,3\n4,five,6\n")
    with pytest.raises(ValueError, match="non-numeric"):
        load_arrays(word)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_arrays(empty)
    with pytest.raises(ValueError, match=".npz or .csv"):
        load_arrays(tmp_path / "d.csv", n_targets=1) if False else load_arrays(_touch(tmp_path / "d.json"))
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "missing.csv")


def _touch(p):
    p.write_text("{}")
    return p


def test_dataset_is_a_validated_record():
    with pytest.raises(ValueError, match="x_test must have 2 columns"):
        Dataset(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((2, 5)), np.zeros((2, 1)))
    ds = Dataset(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((0, 0)), np.zeros((0, 0)))
    assert ds.x_test.shape == (0, 2) and "train=3" in repr(ds)


def test_csv_columns_chosen_by_index_range_or_name(tmp_path):
    """Issue 14 case 2: a CSV with 3 inputs and 2 targets; the columns are chosen, never guessed silently."""
    p = tmp_path / "two.csv"
    rows = "\n".join(f"{i},{i + 1},{i + 2},{10 * i},{-i}" for i in range(8))
    p.write_text("a,b,c,y1,y2\n" + rows + "\n")
    by_name = load_arrays(p, targets="y1,y2", test_fraction=0.0)
    by_range = load_arrays(p, inputs="0-2", targets=[3, 4], test_fraction=0.0)
    by_count = load_arrays(p, n_targets=2, test_fraction=0.0)
    for ds in (by_name, by_range, by_count):
        assert (ds.n_in, ds.n_out) == (3, 2)
        np.testing.assert_array_equal(np.sort(ds.t_train[:, 0]), 10.0 * np.arange(8))
    only_inputs = load_arrays(p, inputs="a,b", n_targets=1, test_fraction=0.0)  # the last column not an input
    assert (only_inputs.n_in, only_inputs.n_out) == (2, 1) and only_inputs.info["targets"] == [4]
    semi = tmp_path / "semi.csv"
    semi.write_text(rows.replace(",", ";") + "\n")
    assert load_arrays(semi, delimiter=";", n_targets=2, test_fraction=0.0).n_in == 3


@pytest.mark.parametrize("kw, needle", [
    (dict(targets="y9"), "neither a 0-based column index"),
    (dict(targets="7"), "column 7 does not exist"),
    (dict(targets="4-3"), "runs backwards"),
    (dict(inputs="0-3", targets="3,4"), "both inputs and targets"),
    (dict(targets="3,3"), "lists a column twice"),
    (dict(inputs="0-4", n_targets=1), "need more than n_targets"),
    (dict(targets=","), "selects no column"),
])
def test_csv_column_specs_that_cannot_be_meant_are_refused(tmp_path, kw, needle):
    p = tmp_path / "two.csv"
    p.write_text("a,b,c,y1,y2\n" + "\n".join("1,2,3,4,5" for _ in range(4)) + "\n")
    with pytest.raises(ValueError, match=needle):
        load_arrays(p, **kw)


def test_npz_array_names(tmp_path):
    p = tmp_path / "named.npz"
    np.savez(p, features=np.ones((8, 3)), labels=np.zeros((8, 2)))
    ds = load_arrays(p, x_key="features", t_key="labels", test_fraction=0.25)
    assert (ds.n_in, ds.n_out, ds.n_test) == (3, 2, 2)
    with pytest.raises(ValueError, match="has no array 'x'"):
        load_arrays(p)
