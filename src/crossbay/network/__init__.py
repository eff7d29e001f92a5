"""network context: the carrier network's side of usage (records and online credit control)."""
