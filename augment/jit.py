"""Numba flags in one place. Kernels are private `@njit(**KERNEL)` functions that take arrays and
scalars and write into outputs their public wrapper allocated and validated."""

from __future__ import annotations

import numba

KERNEL = dict(nogil=True, cache=True, fastmath=False)  # njit is nopython already
PARALLEL_KERNEL = dict(KERNEL, parallel=True)

njit = numba.njit
prange = numba.prange
