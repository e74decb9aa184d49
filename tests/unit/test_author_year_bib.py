"""The bibliography labels (book/_ext/author_year_bib.py) read like the citations in the text."""

import sys
from pathlib import Path

from pybtex.database import Entry, Person

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
import author_year_bib as ay  # noqa: E402


def _entry(key, authors, year="2022"):
    e = Entry("article", fields={"title": "t", "year": year})
    e.key = key
    e.persons["author"] = [Person(a) for a in authors]
    return e


def test_labels_by_number_of_authors_and_accents():
    assert ay.label(_entry("a", ["Sahs, J.", "Pyle, R.", "Damaraju, A.", "Caro, J."])) == \
        "Sahs et al., 2022"
    assert ay.label(_entry("b", ["Deng, Y.", "Kamani, M.", "Mahdavi, M."])) == \
        "Deng, Kamani and Mahdavi, 2022"
    assert ay.label(_entry("c", ["Jin, Hui", "Mont{\\'u}far, Guido"], "2023")) == \
        "Jin and Montúfar, 2023"
    assert ay.label(_entry("d", ["Xu, Y."], "2024")) == "Xu, 2024"


def test_equal_labels_get_letters():
    es = [_entry("a", ["Xu, Y."], "2024"), _entry("b", ["Xu, Z."], "2024"),
          _entry("c", ["Li, Q."], "2024")]
    assert list(ay.AuthorYearLabels().format_labels(es)) == ["Xu, 2024a", "Xu, 2024b", "Li, 2024"]
