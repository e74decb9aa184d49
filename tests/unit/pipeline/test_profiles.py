import numpy as np
import pytest

from relubook.pipeline import profiles, runs

FULL = {"n": 100, "lr": 0.01, "name": "b", "flag": True, "sizes": [1, 2]}
SMOKE = {"n": 10, "lr": 0.1, "name": "a"}


@pytest.fixture
def no_seeding(monkeypatch):
    """``runs.start`` without its process-wide torch settings (other tests share this process)."""
    monkeypatch.setattr(runs.seeding, "seed_everything",
                        lambda seed, threads=1: np.random.default_rng(seed))


def test_resolve_picks_profile_and_is_read_only():
    cfg = profiles.resolve(FULL, SMOKE, "smoke")
    assert dict(cfg) == {"n": 10, "lr": 0.1, "name": "a", "flag": True, "sizes": [1, 2]}
    assert dict(profiles.resolve(FULL, SMOKE, "full")) == FULL
    with pytest.raises(TypeError):
        cfg["n"] = 3


def test_no_smoke_diff_means_smoke_is_full():
    assert dict(profiles.resolve(FULL, None, "smoke")) == FULL
    assert dict(profiles.resolve(FULL, {}, "smoke")) == FULL


def test_resolve_keeps_the_order_of_full():
    assert list(profiles.resolve(FULL, {"sizes": [3], "n": 1}, "smoke")) == list(FULL)


def test_overrides_apply_with_int_for_float():
    cfg = profiles.resolve(FULL, SMOKE, "full", {"lr": 1, "n": 7})
    assert cfg["lr"] == 1.0 and isinstance(cfg["lr"], float) and cfg["n"] == 7
    cfg = profiles.resolve(FULL, SMOKE, "smoke", {"name": "c"})
    assert cfg["name"] == "c" and cfg["n"] == 10


def test_smoke_int_for_float_is_made_float():
    cfg = profiles.resolve(FULL, {"lr": 1}, "smoke")
    assert cfg["lr"] == 1.0 and isinstance(cfg["lr"], float)


def test_unknown_profile_names_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: smoke, full"):
        profiles.resolve(FULL, SMOKE, "fast")


def test_unknown_parameter_names_valid_ones():
    with pytest.raises(ValueError, match="valid parameters: flag, lr, n, name, sizes"):
        profiles.resolve(FULL, SMOKE, "smoke", {"widht": 3})


@pytest.mark.parametrize("key,value", [("n", 2.5), ("n", "3"), ("flag", 1), ("n", True)])
def test_wrong_type_is_rejected(key, value):
    with pytest.raises(TypeError, match=f"parameter {key!r} must be"):
        profiles.resolve(FULL, SMOKE, "smoke", {key: value})


def test_smoke_diff_unknown_key_names_valid_ones():
    with pytest.raises(ValueError, match="smoke diff sets unknown setting 'widht'; "
                                         "valid settings: flag, lr, n, name, sizes"):
        profiles.resolve(FULL, {"widht": 3}, "full")


@pytest.mark.parametrize("key,value", [("n", 2.5), ("n", "3"), ("flag", 0), ("n", False),
                                       ("sizes", 3), ("name", 1)])
def test_smoke_diff_wrong_type(key, value):
    with pytest.raises(ValueError, match=f"smoke diff gives {key!r} a .* it must be"):
        profiles.resolve(FULL, {key: value}, "smoke")


@pytest.mark.parametrize("key,value", [("n", 100), ("lr", 0.01), ("flag", True),
                                       ("sizes", (1, 2)), ("name", "b")])
def test_smoke_diff_must_not_repeat_full(key, value):
    with pytest.raises(ValueError, match=f"smoke diff repeats full value for {key!r}"):
        profiles.resolve(FULL, {key: value}, "full")


def test_int_smoke_equal_to_float_full_is_a_repeat():
    with pytest.raises(ValueError, match="repeats full value for 'x'"):
        profiles.check_smoke_diff({"x": 1.0}, {"x": 1})


def test_old_table_form_says_how_to_call_the_new_one(no_seeding):
    old = {"smoke": {"n": 1}, "full": {"n": 2}}
    with pytest.raises(TypeError, match=r"no longer accepted; pass the full settings and the "
                                        r"smoke diff: run.configure\("):
        profiles.resolve(old, None, "smoke")
    run = runs.start("00_toy", profile="smoke")
    with pytest.raises(TypeError, match=r"run.configure\(\{.*\}, smoke=\{"):
        run.configure(old)


def test_old_positional_profile_is_a_type_error():
    with pytest.raises(TypeError, match="smoke diff must be a dict or None, got str"):
        profiles.resolve(FULL, "smoke", "smoke")


def test_full_must_be_a_non_empty_mapping():
    with pytest.raises(TypeError, match="full settings must be a dict"):
        profiles.resolve([("n", 1)], None, "full")
    with pytest.raises(ValueError, match="empty"):
        profiles.resolve({}, None, "full")


def test_run_configure_keeps_both_tables_and_records_resolved_config(no_seeding):
    run = runs.start("00_toy", profile="smoke", overrides={"lr": 2})
    cfg = run.configure(FULL, smoke=SMOKE)
    assert cfg["n"] == 10 and cfg["lr"] == 2.0
    assert run.full == FULL and run.smoke == SMOKE
    with pytest.raises(TypeError):
        cfg["n"] = 1
    assert dict(run.config) == {**FULL, **SMOKE, "lr": 2.0}  # what the record's "config" holds


def test_config_table_text_and_markdown(no_seeding):
    run = runs.start("00_toy", profile="smoke")
    with pytest.raises(RuntimeError, match="before configure"):
        run.config_table()
    run.configure({"n": 1000, "fail": False, "name": "x|y"}, smoke={"n": 100})
    t = run.config_table()
    assert t.rows() == [("n", "1000", "100"), ("fail", "False", "="), ("name", "'x|y'", "=")]
    assert repr(t).splitlines() == [
        "setting  full   smoke",
        "-------  -----  -----",
        "n        1000   100",
        "fail     False  =",
        "name     'x|y'  =",
        "this run: profile smoke",
    ]
    md = t._repr_markdown_()
    assert md.splitlines()[:3] == ["| setting | full | **smoke** (this run) |", "|---|---|---|",
                                   "| `n` | 1000 | 100 |"]
    assert "'x\\|y'" in md


def test_config_table_shows_overrides_and_checks_the_diff():
    t = profiles.ConfigTable({"n": 3}, None, "full", {"n": 4})
    assert repr(t).splitlines()[-1] == "this run: profile full; overrides n=4"
    assert "This run: profile full; overrides n=4." in t._repr_markdown_()
    assert repr(profiles.ConfigTable({"n": 3})).splitlines()[-1] == "n        3     ="
    with pytest.raises(ValueError, match="repeats full value"):
        profiles.ConfigTable({"n": 3}, {"n": 3})


@pytest.mark.parametrize("seed,exc", [(1.5, TypeError), ("0", TypeError), (-1, ValueError), (True, TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc):
        profiles.check_seed(seed)
