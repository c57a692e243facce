"""``python -m segmath evaluate PRED REF``: the command line (see ``segmath.evaluate.cli``)."""
import sys

from segmath.evaluate.cli import main

if __name__ == "__main__":       # importing this module (doctest discovery) must not run the command
    sys.exit(main())
