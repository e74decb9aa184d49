import pytest

from relubook import profiles

TABLE = {"smoke": {"n": 10, "lr": 0.1, "name": "a", "flag": False},
         "full": {"n": 100, "lr": 0.01, "name": "b", "flag": True}}


def test_resolve_picks_profile_and_is_read_only():
    cfg = profiles.resolve(TABLE, "smoke")
    assert cfg["n"] == 10 and cfg["name"] == "a"
    with pytest.raises(TypeError):
        cfg["n"] = 3


def test_overrides_apply_with_int_for_float():
    cfg = profiles.resolve(TABLE, "full", {"lr": 1, "n": 7})
    assert cfg["lr"] == 1.0 and isinstance(cfg["lr"], float) and cfg["n"] == 7


def test_unknown_profile_names_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: smoke, full"):
        profiles.resolve(TABLE, "fast")


def test_unknown_parameter_names_valid_ones():
    with pytest.raises(ValueError, match="valid parameters: flag, lr, n, name"):
        profiles.resolve(TABLE, "smoke", {"widht": 3})


@pytest.mark.parametrize("key,value", [("n", 2.5), ("n", "3"), ("flag", 1), ("n", True)])
def test_wrong_type_is_rejected(key, value):
    with pytest.raises(TypeError, match=f"parameter {key!r} must be"):
        profiles.resolve(TABLE, "smoke", {key: value})


def test_profiles_must_share_keys():
    with pytest.raises(ValueError, match="same settings"):
        profiles.resolve({"smoke": {"a": 1}, "full": {"b": 1}}, "smoke")


@pytest.mark.parametrize("seed,exc", [(1.5, TypeError), ("0", TypeError), (-1, ValueError), (True, TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc):
        profiles.check_seed(seed)
