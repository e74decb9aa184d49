import json

import pytest

from relubook.pipeline import paths, records


def good_record():
    return {"chapter": "00_toy", "profile": "full", "seed": 0, "wall_s": 1.0, "code_hash": "x",
            "lib_hash": "y", "lib_modules": {}, "versions": {},
            "claims": [{"id": "C1", "statement": "s", "paper": "p", "measured": "m",
                        "rule": "r", "verdict": "reproduced"}]}


def test_load_round_trip(tmp_path):
    f = tmp_path / "r.json"
    paths.atomic_write_text(f, json.dumps(good_record()))
    assert records.load(f)["chapter"] == "00_toy"


def test_missing_record_says_how_to_create_it(tmp_path):
    with pytest.raises(records.RecordError, match="relubook run"):
        records.load(tmp_path / "nope.json")


def test_corrupt_record(tmp_path):
    f = tmp_path / "r.json"
    f.write_text('{"chapter": ')
    with pytest.raises(records.RecordError, match="corrupt"):
        records.load(f)


@pytest.mark.parametrize("breakage,msg", [
    (lambda r: r.pop("code_hash"), "missing field"),
    (lambda r: r.update(claims=[]), "non-empty"),
    (lambda r: r["claims"][0].pop("rule"), "lacks rule"),
    (lambda r: r["claims"][0].update(verdict="ok"), "not one of"),
])
def test_malformed_records(breakage, msg):
    rec = good_record()
    breakage(rec)
    with pytest.raises(records.RecordError, match=msg):
        records.validate(rec)


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
