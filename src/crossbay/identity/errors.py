from crossbay.errors import CrossbayError, RateLimited


class InvalidPhoneNumber(CrossbayError):
    code = "invalid_phone_number"
    status = 422


class InvalidCode(CrossbayError):
    code = "invalid_code"
    status = 401
    keeps_changes = True  # the wrong guess is counted


class ChallengeDead(CrossbayError):
    code = "too_many_attempts"
    status = 429


class OtpResendTooSoon(RateLimited):
    code = "otp_resend_too_soon"


class InvalidCredentials(CrossbayError):
    code = "invalid_credentials"
    status = 401
    keeps_changes = True  # the failure counts toward the lockout


class PasswordLocked(CrossbayError):
    code = "too_many_attempts"
    status = 429


class WeakPassword(CrossbayError):
    code = "weak_password"
    status = 422


class InvalidToken(CrossbayError):
    code = "unauthenticated"
    status = 401


class RefreshTokenReused(InvalidToken):
    keeps_changes = True  # the family's revocation must stick
