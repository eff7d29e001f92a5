from crossbay.errors import CrossbayError, NotFound


class PackageNotFound(NotFound):
    pass


class PackageNotAvailable(CrossbayError):
    code = "package_not_available"
    status = 422


class CurrencyNotOffered(CrossbayError):
    code = "currency_not_offered"
    status = 422
