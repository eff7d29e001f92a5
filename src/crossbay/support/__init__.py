"""Customer tickets with threaded replies, and the watch that opens one when an order is late."""
