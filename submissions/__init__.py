"""Kaggle submission.json: write, validate, score."""
