"""``python -m skewless``: the command line."""

from skewless.cli import main

main()
