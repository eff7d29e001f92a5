"""esim context."""
