"""`python -m pipeline ...` (what torchrun launches) is the same CLI."""

from pipeline.cli import main

main()
