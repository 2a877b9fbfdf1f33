"""Checks before a member joins (and again on demand): what breaks a federation later if it is wrong now."""
