"""``python -m segmath evaluate PRED REF``: the command line (see ``segmath.evaluate.cli``)."""
import sys

from segmath.evaluate.cli import main

sys.exit(main())
