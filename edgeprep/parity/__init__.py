"""Parity: generated and user samples, one comparator for every target, and the chain of checks."""
