"""Inputs: reading and validating portfolio files; the example-data generator."""
