"""``python -m relubook`` is the ``relubook`` command."""

import sys

from relubook.pipeline.cli import main

sys.exit(main())
