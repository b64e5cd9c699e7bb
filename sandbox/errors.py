"""The sandbox's exceptions: Twilio API errors rendered as Twilio's error body, and setup errors."""

from __future__ import annotations


class SandboxError(Exception):
    """Root of every error the sandbox raises."""


class SandboxConfigError(SandboxError):
    """The sandbox was started with unusable settings (bad account SID, non-positive CPS…)."""


class ApiError(SandboxError):
    """An error the Twilio API would answer with: HTTP status plus Twilio error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def more_info(self) -> str:
        return f"https://www.twilio.com/docs/errors/{self.code}"


class AuthenticationFailed(ApiError):
    """Missing or wrong HTTP Basic credentials (Twilio 20003)."""

    def __init__(self) -> None:
        super().__init__(401, 20003, "Authenticate")


class ResourceNotFound(ApiError):
    """Unknown path, unknown sid or another account's resource (Twilio 20404)."""

    def __init__(self, path: str) -> None:
        super().__init__(404, 20404, f"The requested resource {path} was not found")


class MethodNotAllowed(ApiError):
    """HTTP method not supported on this resource (Twilio 20004)."""

    def __init__(self, method: str) -> None:
        super().__init__(405, 20004, f"Method {method} not allowed")


class InvalidParameter(ApiError):
    """A request parameter is missing or malformed (Twilio 2xxxx codes, status 400)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(400, code, message)


class TooManyRequests(ApiError):
    """More API requests at once than the account may make concurrently (Twilio 20429)."""

    def __init__(self) -> None:
        super().__init__(429, 20429, "Too Many Requests")


class InjectedServerError(ApiError):
    """A failure the sandbox answers on purpose (see `Faults`), with Twilio's generic 20500."""

    def __init__(self) -> None:
        super().__init__(500, 20500, "Internal Server Error")


class InjectedUnavailable(ApiError):
    """A busy answer the sandbox gives on purpose (see `Faults`), with Twilio's 20503."""

    def __init__(self) -> None:
        super().__init__(503, 20503, "Service Unavailable")
