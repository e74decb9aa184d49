"""relubook: the shared library of *ReLU Networks, Reproduced*.

Four layers, each importing only the ones below it (see ``DESIGN.md``)::

    relubook.drivers   one module per chapter that needs its own sweeps, tables, figures
    relubook.topics    one concept each (splines, Local SGD, BW-ReLU INRs, ...)
    relubook.core      building blocks shared by two or more chapters
    relubook.pipeline  runs, records, verdicts, freshness, pages, the CLI

``core`` and ``topics`` never import ``pipeline``. Package ``__init__`` files import
nothing, so a chapter's record lists exactly the modules its kernel used.
"""

__version__ = "0.2.0"
