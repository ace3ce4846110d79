"""Reusable test support (fixtures shared across test modules and engineers)."""
