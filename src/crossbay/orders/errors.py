from crossbay.errors import Conflict, CrossbayError, NotFound


class OrderNotFound(NotFound):
    pass


class OrderNotPayable(Conflict):
    code = "order_not_payable"


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"


class PaymentMethodUnavailable(CrossbayError):
    code = "payment_method_unavailable"
    status = 422


class IllegalTransition(RuntimeError):
    """A bug, not a client error: the code asked for a transition the state machine forbids."""
