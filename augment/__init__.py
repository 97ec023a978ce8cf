"""ARC augmentation at the root (records, numba kernels, encoding, dataset build); Sudoku and mazes in `augment.puzzles`."""
