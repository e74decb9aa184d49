"""Unit tests of relubook.pipeline.claims: checks compute their outcome, claims derive verdicts."""

import math

import numpy as np
import pytest

from relubook.pipeline import claims
from relubook.pipeline.claims import Check, Claim


def test_each_comparison_passes_and_fails():
    assert claims.at_most("e", 1e-13, 1e-12).passed and not claims.at_most("e", 2e-12, 1e-12).passed
    assert claims.at_most("e", 1.0, 1.0).passed and not claims.below("e", 1.0, 1.0).passed
    assert claims.at_least("a", 3, 3).passed and not claims.above("a", 3, 3).passed
    assert claims.between("s", 0.5, 0.25, 0.75).passed
    assert not claims.between("s", 0.8, 0.25, 0.75).passed
    assert claims.equal("n", 4, 4).passed and not claims.equal("n", 4, 5).passed
    assert claims.true("holds", True).passed and not claims.true("holds", False).passed


def test_nan_fails_every_comparison():
    nan = float("nan")
    for c in (claims.at_most("x", nan, 1.0), claims.at_least("x", nan, 0.0),
              claims.between("x", nan, -1, 1), claims.above("x", nan, -math.inf)):
        assert not c.passed


def test_numpy_scalars_become_plain_numbers():
    c = claims.at_most("x", np.float32(0.5), 1)
    assert type(c.value) is float and c.passed
    assert type(claims.true("t", np.bool_(True)).value) is bool


def test_passed_cannot_be_typed():
    with pytest.raises(TypeError):
        Check("x", 1.0, "<=", 2.0, passed=False)       # not an init argument
    c = claims.at_most("x", 1.0, 2.0)
    with pytest.raises(AttributeError):
        c.passed = False                                # frozen


def test_bad_checks_raise():
    with pytest.raises(ValueError, match="valid"):
        Check("x", 1.0, "~", 2.0)
    with pytest.raises(ValueError, match="name"):
        claims.at_most("", 1.0, 2.0)
    with pytest.raises(TypeError):
        claims.at_most("x", "small", 2.0)
    with pytest.raises(ValueError, match="empty"):
        claims.between("x", 1.0, 2.0, 1.0)


def _c(ok):
    return claims.at_most("x", 0.0 if ok else 2.0, 1.0)


def test_verdict_rules():
    assert claims.verdict([_c(True), _c(True)]) == "reproduced"
    assert claims.verdict([_c(True), _c(False)]) == "partly"
    assert claims.verdict([_c(False), _c(False)]) == "not reproduced"


def test_refined_needs_the_counter_example_and_the_corrected_checks():
    shown, not_shown = claims.true("counter-example", True), claims.true("counter-example", False)
    assert claims.verdict([_c(True)], refutation=shown) == "refined"
    assert claims.verdict([_c(True), _c(False)], refutation=shown) == "partly"
    # every check of the corrected statement failing is "not reproduced", never "partly"
    assert claims.verdict([_c(False), _c(False)], refutation=shown) == "not reproduced"
    assert claims.verdict([_c(True)], refutation=not_shown) == "reproduced"


def test_verdict_needs_checks_not_booleans():
    with pytest.raises(ValueError):
        claims.verdict([])
    with pytest.raises(TypeError):
        claims.verdict({"a": True})
    with pytest.raises(TypeError):
        claims.verdict(True)


def test_a_claim_cannot_be_recorded_without_checks():
    with pytest.raises(ValueError, match="no checks"):
        Claim("C1", "s", "p", ())
    with pytest.raises(TypeError):
        Claim("C1", "s", "p", (True,))
    with pytest.raises(ValueError, match="distinct"):
        Claim("C1", "s", "p", (_c(True), _c(True)))
    with pytest.raises(ValueError, match="id"):
        Claim("claim one", "s", "p", (_c(True),))
    with pytest.raises(ValueError, match="kind"):
        Claim("C1", "s", "p", (_c(True),), kind="other")


def test_rule_and_measured_are_derived_from_the_checks():
    c = Claim("C2", "s", "p", (claims.at_most("max error", 3.14159e-15, 1e-12),
                                claims.between("slope", -0.52, -0.6, -0.4)),
              note_checks=(claims.below("std (note)", 0.19, 0.1),))
    assert c.verdict == "reproduced"
    assert c.rule == "max error ≤ 1e-12; slope in [-0.6, -0.4]"
    assert c.measured == "max error = 3.14e-15; slope = -0.52"
    d = c.to_dict()
    assert d["verdict"] == "reproduced" and d["checks"][0]["passed"] is True
    assert d["note_checks"][0]["passed"] is False


def test_fmt_is_stable():
    assert claims.fmt(0.123456) == "0.123"
    assert claims.fmt(1234567.0, 2) == "1.2e+06"
    assert claims.fmt(0) == "0" and claims.fmt(7) == "7" and claims.fmt(True) == "true"
    assert claims.fmt(float("nan")) == "nan" and claims.fmt(float("inf")) == "inf"


def test_table_renders_paper_claims_and_book_checks_apart():
    paper = Claim("C1", "s", "p|q", (_c(True), claims.at_least("y", 0.0, 1.0)),
                  full_only="needs scale")
    book = Claim("B1", "engine", "not claimed by the paper", (_c(True),), kind="book")
    t = claims.VerdictTable("01_x", "smoke", [paper, book])
    text = repr(t)
    assert "C1   PARTLY  [full-only]" in text and "[FAIL] y = 0" in text
    assert text.index("book's own checks") < text.index("B1")
    md = t._repr_markdown_()
    assert "p\\|q" in md and "**partly** (full-only)" in md and "[C1](#ch01-c1)" in md
    assert md.index("not counted") < md.index("[B1]")
    assert claims.section_label("01_x", "C1") == "ch01-c1"


def test_show_prints_each_check_with_its_outcome(capsys):
    c = Claim("C3", "s", "p", (claims.at_most("err", 2.0, 1.0),),
              refutation=claims.true("counter-example", True))
    claims.show(c)
    claims.show([claims.between("slope", -0.5, -0.6, -0.4)])
    out = capsys.readouterr().out.splitlines()
    assert out == ["C3: not reproduced", "  [pass] counter-example: yes   (must hold)",
                   "  [FAIL] err = 2   (≤ 1)", "  [pass] slope = -0.5   (in [-0.6, -0.4])"]
