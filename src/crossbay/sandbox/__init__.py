"""sandbox context."""
