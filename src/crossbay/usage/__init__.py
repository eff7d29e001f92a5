"""usage context."""
