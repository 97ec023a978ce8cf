"""ARC domain: grids, tasks, loading and validation, content fingerprints, overlap, rendering."""

from arc_pipeline.arc.errors import ArcError

__all__ = ["ArcError"]
