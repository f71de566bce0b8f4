"""Projections: pure folds of the log into views (schedules, runs, stats, health, audit)."""
