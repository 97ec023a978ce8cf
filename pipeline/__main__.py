"""`python -m arc_pipeline ...` (what torchrun launches) is the same CLI."""

from arc_pipeline.cli import main

main()
