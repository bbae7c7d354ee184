"""`python -m eqnas` runs the CLI."""
from eqnas.cli import main

main()
