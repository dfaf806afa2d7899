"""Test-only stand-in for the original learning store (see models.py)."""
