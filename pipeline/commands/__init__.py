"""Thin Click commands, one module each; registered lazily in pipeline.cli."""
