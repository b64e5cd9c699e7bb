"""Settings, input files (structures, scenarios, personas, criteria) and their validation.

This package imports nothing else of prober: every other package depends on it.
"""
