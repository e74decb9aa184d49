import pytest

from relubook.pipeline import claims


def test_verdict_from_checks():
    assert claims.verdict(True) == "reproduced"
    assert claims.verdict(False) == "not reproduced"
    assert claims.verdict({"a": True, "b": True}) == "reproduced"
    assert claims.verdict({"a": True, "b": False}) == "partly"
    assert claims.verdict({"a": False, "b": False}) == "not reproduced"


def test_refined_needs_the_corrected_checks_to_pass():
    assert claims.verdict({"corrected": True}, refined_by=True) == "refined"
    assert claims.verdict({"corrected": False}, refined_by=True) == "partly"
    assert claims.verdict(True, refined_by=False) == "reproduced"


def test_verdict_needs_a_check():
    with pytest.raises(ValueError):
        claims.verdict({})


def test_claim_rejects_unknown_verdict():
    with pytest.raises(ValueError, match="not one of"):
        claims.Claim("C1", "s", "p", "m", "r", "passed")


def test_fmt_is_stable():
    assert claims.fmt(0.123456) == "0.123"
    assert claims.fmt(1234567.0, 2) == "1.2e+06"
    assert claims.fmt(0) == "0"
    assert claims.fmt(float("nan")) == "nan"


def test_table_renders_text_and_markdown():
    c = [claims.Claim("C1", "s", "p|q", "m", "r", "partly", full_only="needs scale")]
    t = claims.VerdictTable("01_x", "smoke", c)
    assert "C1   PARTLY  [full-only]" in repr(t)
    md = t._repr_markdown_()
    assert "p\\|q" in md and "**partly** (full-only)" in md
