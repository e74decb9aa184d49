"""Building blocks shared by two or more chapters: data, initialisation, stacked MLPs with
their backward pass and loss heads, optimiser steps and training loops, Jacobians and the
empirical NTK, activation regions, norms, ranks and fits. Never imports the pipeline; this
``__init__`` imports nothing (see ``DESIGN.md``)."""
