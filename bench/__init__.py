"""Benchmarks: one module per figure in DESIGN.md §7, run together by `python -m bench`."""
