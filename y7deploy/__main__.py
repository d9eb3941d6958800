"""`python -m y7deploy` runs the same command line as `y7deploy`."""

from y7deploy.cli import main

main()
