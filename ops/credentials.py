"""How ops commands tell an operator what went wrong with AWS: :func:`describe_error` in one line, and credentials
that are missing, incomplete, expired or refused (:func:`credentials_problem`) told as such, with how to provide
them, exit status :data:`EXIT_CREDENTIALS`; never as a region that did not answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.shared.errors import error_code

# The exit status of ops status, failover and abort when the credentials are missing, incomplete, expired or refused
# (ops preflight reports them as its credentials check's FAIL, exit 1).
EXIT_CREDENTIALS = 3
CREDENTIALS_HELP = (
    "provide credentials for the stack's account: `aws sso login --profile NAME` and `export AWS_PROFILE=NAME`, "
    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN with temporary credentials)"
)
# Error codes with which AWS refuses the credentials themselves (not a missing permission).
REFUSED_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "AuthFailure",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
PROVIDERS = {"env": "the environment", "shared-credentials-file": "~/.aws/credentials", "config-file": "~/.aws/config"}


def describe_error(error: BaseException) -> str:
    """One line for an operator: the error class and its message, without a traceback."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class CredentialsError(Exception):
    """AWS credentials are missing, incomplete, expired or refused (exit :data:`EXIT_CREDENTIALS`). The message says
    which; :data:`CREDENTIALS_HELP` says how to provide them."""


def credentials_problem(error: BaseException) -> CredentialsError | None:
    """What is wrong with the credentials, when that is why ``error`` (or an error it was raised from) happened."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CredentialsError):
            return current
        message = _credentials_message(current)
        if message is not None:
            return CredentialsError(message)
        current = current.__cause__ or current.__context__
    return None


def _credentials_message(error: BaseException) -> str | None:
    from botocore import exceptions as boto

    code = error_code(error) if isinstance(error, boto.ClientError) else None
    if code in REFUSED_CREDENTIAL_CODES:
        return f"AWS refused the credentials, expired or wrong ({describe_error(error)})"
    if code in ACCESS_DENIED_CODES:
        return f"the AWS credentials in use are not allowed to do this ({describe_error(error)}); use the operator's role"
    # botocore's own errors while it looks for credentials, each told in the operator's terms.
    told: list[tuple[tuple[type[BaseException], ...], Callable[[Any], str]]] = [
        (
            (boto.NoCredentialsError,),
            lambda _: (
                "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), in a "
                "profile (AWS_PROFILE, or the default profile of ~/.aws/config and ~/.aws/credentials), or from a container "
                "or instance role"
            ),
        ),
        (
            (boto.PartialCredentialsError,),
            lambda e: (
                f"incomplete AWS credentials in {PROVIDERS.get(e.kwargs.get('provider'), e.kwargs.get('provider'))}: "
                f"{e.kwargs.get('cred_var')} is missing"
            ),
        ),
        (
            (boto.ProfileNotFound,),
            lambda e: (
                f"the AWS profile {e.kwargs.get('profile')!r} (AWS_PROFILE) is in neither ~/.aws/config nor "
                "~/.aws/credentials (`aws configure list-profiles` lists those there are)"
            ),
        ),
        (
            (boto.UnauthorizedSSOTokenError, boto.SSOTokenLoadError, boto.TokenRetrievalError),
            lambda e: f"the AWS SSO session of the profile has expired or was never started ({describe_error(e)})",
        ),
        ((boto.CredentialRetrievalError,), lambda e: f"the AWS credentials could not be obtained ({describe_error(e)})"),
    ]
    return next((say(error) for kinds, say in told if isinstance(error, kinds)), None)


def print_credentials_error(problem: CredentialsError, *, resume: str | None = None) -> int:
    """Tell an operator which credentials are wrong and how to provide them; ``resume`` when running the command
    again resumes what it started. Returns :data:`EXIT_CREDENTIALS`."""
    import sys

    print(f"error: {problem}", file=sys.stderr)
    print(f"hint: {CREDENTIALS_HELP}; then {resume or 'run the same command again'}", file=sys.stderr)
    return EXIT_CREDENTIALS
