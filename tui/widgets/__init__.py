"""Widgets, grouped by the screen region they belong to."""
