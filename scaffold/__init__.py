"""Scaffold: run infrastructure changes as cascades of containerised tasks."""

__version__ = "0.1.0"
