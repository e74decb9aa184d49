"""relubook: the shared library of *ReLU Networks, Reproduced*.

One concept a module. The pipeline modules (``paths``, ``profiles``, ``seeding``,
``claims``, ``runs``) are imported by every chapter and are kept small and stable;
the science modules (``splines``, ...) are imported only by the chapters that need them,
so that editing one stales only those chapters (see ``relubook.freshness``).
"""

__version__ = "0.1.0"
