"""Records: the JSON Schema (every field's type), recomputed verdicts, clear errors."""

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from relubook.pipeline import claims, paths, records

H = "0123456789abcdef" * 4


def toy_claims():
    return [
        claims.Claim("C1", "the error is small", "Thm 1",
                     (claims.at_most("max error", 1e-14, 1e-12),
                      claims.between("slope", 2.01, 1.9, 2.1))),
        claims.Claim("C2", "the literal bound fails, the corrected one holds", "Prop 2",
                     (claims.true("corrected bound holds", True),
                      claims.below("gap", float("nan"), 1.0)),
                     refutation=claims.above("literal excess", float("inf"), 0.0),
                     note_checks=(claims.equal("rank", 3, 3),), full_only="needs 10^6 samples"),
        claims.Claim("K1", "engine agrees with autograd", "not in the paper",
                     (claims.at_most("diff", 1e-13, 1e-10),), kind="book", detail="50 nets"),
    ]


def good_record():
    return {"chapter": "00_toy", "profile": "full", "seed": 0, "overrides": {"n": 10},
            "config": {"n": 10}, "date": "2026-11-22T16:00:00Z", "wall_s": 1.5,
            "code_hash": H, "lib_hash": H,
            "lib_modules": {"relubook/pipeline/runs.py": H, "relubook/core/gone.py": None},
            "versions": {"python": "3.11.7"}, "machine": "x86_64, 2 CPU cores",
            "numbers": {"mean": 0.01},
            "claims": json.loads(json.dumps([c.to_dict() for c in toy_claims()]))}


def write(path, rec):
    path.write_text(json.dumps(rec), encoding="utf-8")
    return path


def error_of(rec, source="r.json"):
    with pytest.raises(records.RecordError) as e:
        records.validate(rec, source)
    return str(e.value)


def test_the_schema_is_valid_draft_2020_12():
    s = records.schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)


def test_the_schema_is_packaged():
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["relubook.pipeline"]
    assert records.SCHEMA_PATH.name in data and records.SCHEMA_PATH.is_file()


def test_a_good_record_passes_and_round_trips(tmp_path):
    rec = good_record()
    assert rec["claims"][1]["verdict"] == "partly"
    assert rec["claims"][1]["checks"][1]["value"] == "nan"
    assert records.validate(rec) is rec
    assert records.load(write(tmp_path / "r.json", rec)) == rec
    assert records.REQUIRED[0] == "chapter" and "checks" in records.CLAIM_FIELDS


def test_missing_record_says_how_to_create_it(tmp_path):
    with pytest.raises(records.RecordError, match="relubook run"):
        records.load(tmp_path / "nope.json")


def test_corrupt_record(tmp_path):
    f = tmp_path / "r.json"
    f.write_text('{"chapter": ')
    with pytest.raises(records.RecordError, match="corrupt"):
        records.load(f)


def test_errors_name_the_file_relative_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("RELUBOOK_ROOT", str(tmp_path))
    rec = good_record()
    rec["wall_s"] = "3"
    f = paths.claims_dir(tmp_path) / "00_toy.json"
    f.parent.mkdir(parents=True)
    with pytest.raises(records.RecordError) as e:
        records.load(write(f, rec))
    assert str(e.value) == "data/claims/00_toy.json: wall_s: '3' is not of type 'number'"
    assert e.value.errors == [str(e.value)]


def _set(path, value):
    def edit(rec):
        *head, last = path
        obj = rec
        for k in head:
            obj = obj[k]
        obj[last] = value
    return edit


def _pop(*path):
    def edit(rec):
        *head, last = path
        obj = rec
        for k in head:
            obj = obj[k]
        del obj[last]
    return edit


@pytest.mark.parametrize("edit,msg", [
    (_set(["wall_s"], "3"), "r.json: wall_s: '3' is not of type 'number'"),
    (_set(["seed"], 1.5), "r.json: seed: 1.5 is not of type 'integer'"),
    (_set(["profile"], "fast"), "r.json: profile: 'fast' is not one of ['smoke', 'full']"),
    (_set(["code_hash"], "x"), "r.json: code_hash: 'x' does not match"),
    (_set(["lib_modules", "relubook/pipeline/runs.py"], 3),
     'r.json: lib_modules["relubook/pipeline/runs.py"]: 3 is not of type'),
    (_set(["versions", "torch"], 2), "r.json: versions.torch: 2 is not of type 'string'"),
    (_set(["claims"], []), "r.json: claims: [] should be non-empty"),
    (_set(["extra"], 1), "r.json: (record): Additional properties are not allowed ('extra'"),
    (_pop("code_hash"), "r.json: code_hash: required field is missing"),
    (_pop("claims", 0, "rule"), "r.json: claims[0].rule: required field is missing"),
    (_pop("claims", 2, "checks", 0, "op"),
     "r.json: claims[2].checks[0].op: required field is missing"),
    (_set(["claims", 0, "verdict"], "ok"), "r.json: claims[0].verdict: 'ok' is not one of"),
    (_set(["claims", 0, "kind"], "mine"), "r.json: claims[0].kind: 'mine' is not one of"),
    (_set(["claims", 0, "checks", 0, "op"], "~"),
     "r.json: claims[0].checks[0].op: '~' is not one of ['<=', '<', '>=', '>', 'in', '==', 'is']"),
    (_set(["claims", 2, "checks", 0, "value"], "x"),
     "r.json: claims[2].checks[0].value: 'x' is not of type 'number'"),
    (_set(["claims", 0, "checks", 0, "value"], [1]),
     "r.json: claims[0].checks[0].value: [1] is not of type 'number', 'boolean', 'string'"),
    (_set(["claims", 0, "checks", 1, "threshold"], 2.0),
     "r.json: claims[0].checks[1].threshold: 2.0 is not of type 'array'"),
    (_set(["claims", 1, "checks", 0, "value"], 1.0),
     "r.json: claims[1].checks[0].value: 1.0 is not of type 'boolean'"),
    (_set(["claims", 1, "refutation"], 1), "r.json: claims[1].refutation: 1 is not of type"),
    (_set(["claims", 1, "refutation", "passed"], "yes"),
     "r.json: claims[1].refutation.passed: 'yes' is not of type 'boolean'"),
])
def test_schema_errors_name_the_field(edit, msg):
    rec = good_record()
    edit(rec)
    assert error_of(rec).startswith(msg)


@pytest.mark.parametrize("edit,msg", [
    # A typed verdict: the checks say "reproduced".
    (_set(["claims", 0, "verdict"], "partly"),
     "r.json: claims[0].verdict: 'partly' is not the verdict its checks give ('reproduced')"),
    # Without its counter-example, C2's checks give "partly", not "refined".
    (_set(["claims", 1, "verdict"], "refined"),
     "r.json: claims[1].verdict: 'refined' is not the verdict its checks give ('partly')"),
    # A hand-edited outcome: 0.5 <= 1e-12 does not pass.
    (_set(["claims", 0, "checks", 0, "value"], 0.5),
     "r.json: claims[0].checks[0].passed: True is not the outcome of max error = 0.5"),
    (_set(["claims", 1, "refutation", "passed"], False),
     "r.json: claims[1].refutation.passed: False is not the outcome"),
    (_set(["claims", 2, "id"], "C1"), "r.json: claims[2].id: claim id 'C1' appears more than"),
    (_set(["claims", 0, "checks", 1, "threshold"], [2.0, 1.0]),
     "r.json: claims[0].checks[1]: not a valid check: check 'slope': empty interval"),
])
def test_outcomes_and_verdicts_are_recomputed(edit, msg):
    rec = good_record()
    edit(rec)
    assert error_of(rec).startswith(msg)


def test_the_first_error_is_reported_with_a_count_and_all_are_kept():
    rec = good_record()
    rec["wall_s"] = "3"
    rec["claims"][0]["checks"][0]["op"] = "~"
    rec["claims"][1].pop("kind")
    with pytest.raises(records.RecordError) as e:
        records.validate(rec, "r.json")
    assert str(e.value) == "r.json: wall_s: '3' is not of type 'number' (and 2 more errors)"
    assert e.value.errors[1:] == ["r.json: claims[1].kind: required field is missing",
                                  ("r.json: claims[0].checks[0].op: '~' is not one of "
                                   "['<=', '<', '>=', '>', 'in', '==', 'is']")]


def test_a_record_that_is_not_an_object():
    assert error_of([1]) == "r.json: (record): [1] is not of type 'object'"


def test_field_path():
    assert records.field_path(["claims", 2, "checks", 0, "value"]) == "claims[2].checks[0].value"
    assert records.field_path(["lib_modules", "relubook/x.py"]) == 'lib_modules["relubook/x.py"]'
    assert records.field_path([]) == ""


def test_code_hash_ignores_outputs_markdown_and_injected_cell(tmp_path):
    def nb(cells):
        return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    code = {"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {}, "outputs": []}
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text(json.dumps(nb([code])))
    b.write_text(json.dumps(nb([
        {"cell_type": "markdown", "source": "hi", "metadata": {}},
        {"cell_type": "code", "source": "profile='smoke'", "outputs": [],
         "metadata": {"tags": ["injected-parameters"]}},
        dict(code, outputs=[{"output_type": "stream", "text": "1"}])])))
    assert records.code_hash(a) == records.code_hash(b)
    a.write_text(json.dumps(nb([dict(code, source="x = 2")])))
    assert records.code_hash(a) != records.code_hash(b)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    f = tmp_path / "sub" / "x.txt"
    paths.atomic_write_text(f, "a")
    paths.atomic_write_text(f, "b")
    assert f.read_text() == "b" and [p.name for p in f.parent.iterdir()] == ["x.txt"]
