"""orders context."""
