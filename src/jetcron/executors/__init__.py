"""Executors: run triggered work on device hosts and publish the results as events."""
