"""Per-chapter drivers: the sweeps, tables and figures of one chapter (``chNN_<slug>``).
Imports nothing (see ``DESIGN.md``)."""
