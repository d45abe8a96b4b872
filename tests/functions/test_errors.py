"""What an AWS error means for trying again: botocore's own retry classification, plus a transaction conflict."""

from __future__ import annotations

import pytest
from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from functions.shared.errors import error_code, http_status, is_transient
from tests.support.runbook_doubles import client_error

URL = "https://dynamodb.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url=URL), True),
        (ConnectTimeoutError(endpoint_url=URL), True),
        (ReadTimeoutError(endpoint_url=URL), True),
        (ConnectionClosedError(endpoint_url=URL), True),
        (client_error("ProvisionedThroughputExceededException", "PutItem"), True),
        (client_error("ThrottlingException", "PutItem"), True),
        (client_error("RequestLimitExceeded", "PutItem"), True),
        (client_error("LimitExceededException", "PutItem"), True),
        (client_error("TransactionConflictException", "PutItem"), True),
        (client_error("InternalServerError", "PutItem", status=500), True),
        (client_error("ServiceUnavailable", "PutItem", status=503), True),
        (client_error("BadGateway", "PutItem", status=502), True),
        (client_error("SomethingNew", "PutItem", status=429), True),
        (client_error("ValidationException", "PutItem"), False),
        (client_error("ConditionalCheckFailedException", "PutItem"), False),
        (client_error("AccessDeniedException", "PutItem", status=403), False),
        (ValueError("not an AWS error"), False),
    ],
)
def test_transient_errors_are_the_ones_botocore_retries(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_code_and_status_come_from_a_client_error_only() -> None:
    error = client_error("ThrottlingException", "GetItem", status=400)
    assert (error_code(error), http_status(error)) == ("ThrottlingException", 400)
    assert (error_code(ValueError("x")), http_status(ValueError("x"))) == (None, 0)
    assert (error_code(EndpointConnectionError(endpoint_url=URL)), http_status(EndpointConnectionError(endpoint_url=URL))) == (
        None,
        0,
    )
