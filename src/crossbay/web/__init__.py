"""web context."""
