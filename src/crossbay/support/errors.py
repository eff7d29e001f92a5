from crossbay.errors import NotFound


class TicketNotFound(NotFound):
    """No such ticket, or another customer's: the same answer for both."""
