"""Experiments that produce the book's stored results (run as ``python -m rift_core.experiments.NAME``)."""
