"""crossbay: the platform behind a cross-border eSIM data service."""
