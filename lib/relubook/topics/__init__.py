"""One concept a module (splines, low-rank bias, deep products, Local SGD, BW-ReLU INRs, ...),
built on :mod:`relubook.core`. Never imports the pipeline; this ``__init__`` imports nothing."""
