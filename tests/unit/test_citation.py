"""CITATION.cff: the keys and types that CFF 1.2.0 requires, and agreement with the project.

cffconvert (the reference validator) pins jsonschema<4 and conflicts with this project's pins,
and no installed package ships the CFF 1.2.0 JSON schema, so this is a focused check of the
fields we use, following https://github.com/citation-file-format/citation-file-format (1.2.0).
"""
import datetime
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CFF = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
LICENSES = {"MIT"}  # the SPDX ids this project may use
URL = re.compile(r"^(https|http|ftp|sftp)://.+")


def test_required_keys():
    for key in ("cff-version", "message", "title", "authors"):
        assert key in CFF, key
    assert CFF["cff-version"] == "1.2.0"
    assert isinstance(CFF["message"], str) and CFF["message"].strip()
    assert isinstance(CFF["title"], str) and CFF["title"].strip()


def test_only_known_keys():
    known = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
             "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
             "references", "repository", "repository-artifact", "repository-code", "title",
             "type", "url", "version"}
    assert set(CFF) <= known, set(CFF) - known


def test_authors():
    authors = CFF["authors"]
    assert isinstance(authors, list) and authors
    for a in authors:
        assert isinstance(a, dict)
        # an entity has a name; a person has family-names or given-names
        assert ("name" in a) != bool({"family-names", "given-names"} & set(a)), a
        assert all(isinstance(v, str) and v.strip() for v in a.values())
    assert authors == [{"name": "The ReLU Networks, Reproduced authors"}]


def test_types_and_values():
    assert CFF["type"] in ("software", "dataset")
    assert CFF["license"] in LICENSES
    for key in ("repository-code", "url"):
        assert isinstance(CFF[key], str) and URL.match(CFF[key]), key
    assert isinstance(CFF["version"], str)
    # date-released is a date (YAML may load it as one), in YYYY-MM-DD form
    d = CFF["date-released"]
    if not isinstance(d, datetime.date):
        d = datetime.date.fromisoformat(d)
    assert isinstance(d, datetime.date)


def test_agrees_with_the_project():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert CFF["version"] == project["version"]
    assert CFF["license"] == project["license"]
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert CFF["repository-code"] == config["repository"]["url"]
    assert CFF["url"] == config["html"]["baseurl"]
    assert CFF["title"] == config["title"]
