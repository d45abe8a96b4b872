"""IAM authentication to MemoryDB: a redis-py credential provider whose password is a short-lived SigV4 token.

The token is what the MemoryDB developer guide ("Authenticating with IAM", Connecting) builds: a presigned ``GET``
for service ``memorydb`` in the cluster's region, to ``<cluster-name>/`` with ``Action=connect&User=<user>``,
valid 900 seconds, the scheme stripped. It is signed locally with botocore's ``RequestSigner`` and the function
role's credentials (no API call); the role needs ``memorydb:Connect`` on the cluster and the user. redis-py asks
the provider for credentials on every new connection, so a connection opened after a token expired gets a new one.
Imported by ``functions.shared.clients`` on the cache's first command. Why, and the docs: docs/design/data-store-auth.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import botocore.session
import redis
from botocore.model import ServiceId
from botocore.signers import RequestSigner

SERVICE = "memorydb"
TOKEN_EXPIRY_SECONDS = 900
# A token is reused for new connections for at most this long, so one handed out always has minutes left.
TOKEN_REUSE_SECONDS = 600
SIGNING_SCHEME = "https://"


class MemoryDbIamCredentialProvider(redis.CredentialProvider):
    """``(user, token)`` for ``user`` of the MemoryDB cluster ``cluster_name`` in ``region``.

    ``credentials`` are botocore credentials (default: the session's, i.e. the Lambda role's); ``clock`` is
    ``time.monotonic`` (tests pass their own).

    Example:
        >>> provider = MemoryDbIamCredentialProvider("app", "multi-region-prod", "eu-west-1")
        >>> redis.RedisCluster(host=endpoint, port=6379, ssl=True, credential_provider=provider)
    """

    def __init__(
        self,
        user: str,
        cluster_name: str,
        region: str,
        credentials: object | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not user or not cluster_name or not region:
            raise ValueError(
                "MemoryDB IAM authentication needs a user, a cluster name and a region; "
                f"got user={user!r}, cluster_name={cluster_name!r}, region={region!r}"
            )
        # Kept: the signer holds only a weak reference to the session's event emitter.
        self._session = session = botocore.session.get_session()
        self.user, self.cluster_name, self.region = user, cluster_name, region
        self._signer = RequestSigner(
            ServiceId(SERVICE),
            region,
            SERVICE,
            "v4",
            credentials if credentials is not None else session.get_credentials(),
            session.get_component("event_emitter"),
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._signed_at = 0.0

    def token(self) -> str:
        """A fresh IAM authentication token (signed now)."""
        url = f"{SIGNING_SCHEME}{self.cluster_name}/?{urlencode({'Action': 'connect', 'User': self.user})}"
        signed = self._signer.generate_presigned_url(
            {"method": "GET", "url": url, "body": {}, "headers": {}, "context": {}},
            operation_name="connect",
            expires_in=TOKEN_EXPIRY_SECONDS,
            region_name=self.region,
        )
        return str(signed).removeprefix(SIGNING_SCHEME)

    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            now = self._clock()
            if not self._token or now - self._signed_at >= TOKEN_REUSE_SECONDS:
                self._token, self._signed_at = self.token(), now
            return self.user, self._token
