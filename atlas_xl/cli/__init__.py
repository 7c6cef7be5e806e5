"""The atlas-xl command line."""
