"""The bibliography's entry labels in author–year form, like the citations in the text.

The text cites "Sahs et al., 2022" (``bibtex_reference_style: author_year``), while pybtex's
``plain`` style labels the list "[1]", "[2]", …. This registers the formatting style
``authoryear``: ``plain``'s entries with labels "Sahs et al., 2022", "Deng, Kamani and
Mahdavi, 2022" (up to three authors), a letter added where two entries would share a label.
Used through ``bibtex_default_style: authoryear`` in ``_config.yml``.
"""

from __future__ import annotations

import codecs
from collections import Counter

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

__all__ = ["AuthorYearLabels", "AuthorYearStyle", "label", "setup"]


def _plain(name: str) -> str:
    """A BibTeX name as plain text: accents decoded (``Mont{\\'u}far`` → ``Montúfar``), braces gone."""
    return codecs.decode(name, "ulatex").replace("{", "").replace("}", "")


def label(entry) -> str:
    """``Last, year`` / ``Last and Last, year`` / ``Last, Last and Last, year`` / ``Last et al., year``."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_plain(" ".join(p.last_names)) for p in persons]
    year = entry.fields.get("year", "n.d.")
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) <= 3:
        who = ", ".join(names[:-1]) + " and " + names[-1]
    else:
        who = f"{names[0]} et al."
    return f"{who}, {year}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [label(e) for e in entries]
        count, seen = Counter(labels), Counter()
        for lab in labels:
            if count[lab] > 1:
                seen[lab] += 1
                yield f"{lab}{chr(ord('a') + seen[lab] - 1)}"
            else:
                yield lab


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
