"""api context."""
