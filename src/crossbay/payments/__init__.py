"""payments context."""
