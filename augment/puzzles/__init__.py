"""Sudoku and maze domains: token layouts, augmentations, solvers and generators, and the pieces
they share: `tokens` (the shared puzzle id, the token gather, the ExampleSource), `rng` (the
explicit splitmix64 streams the numba generators draw from) and `csvfile` (the published
`source,question,answer,rating` layout). The ARC pipeline never imports this package."""
