"""Symmetry transforms (numba kernels), encodings, dataset building; ARC, Sudoku and maze domains."""
