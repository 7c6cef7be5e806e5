"""SEPA credit transfers: the pain.001 file and its reviewer list."""
