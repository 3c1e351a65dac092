"""`python -m dglbal` runs the command-line interface."""
from dglbal.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
