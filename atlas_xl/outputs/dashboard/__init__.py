"""The HTML dashboard page."""
