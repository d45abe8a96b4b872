"""The MemoryDB IAM credential provider: the token is the presigned request the MemoryDB guide documents (checked
against the SigV4 specification, independently of botocore), it is reused for a while then signed again, and redis-py
sends it as the user's password (against a real local Redis with an ACL user whose password is that token)."""

from __future__ import annotations

import datetime
import gc
import hashlib
import hmac
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import redis
from botocore.credentials import Credentials

from functions.shared import clients
from functions.shared.clients import redis_client
from functions.shared.memorydb_auth import TOKEN_EXPIRY_SECONDS, TOKEN_REUSE_SECONDS, MemoryDbIamCredentialProvider
from functions.shared.settings import Settings
from simulation.local_servers import RedisClusterServers, RedisServer

ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
SIGNED_AT = datetime.datetime(2026, 12, 3, 10, 0, 0, tzinfo=datetime.UTC)
REGION, CLUSTER, USER = "eu-west-1", "multi-region-prod", "multi-region-prod-app"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signing_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime.datetime]]:
    """botocore signs at the first time in the list (tests change it); naive UTC, as botocore's own clock is."""
    at = [SIGNED_AT]
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: at[0].replace(tzinfo=None))
    yield at


def _provider(clock: Clock | None = None, token: str | None = SESSION_TOKEN) -> MemoryDbIamCredentialProvider:
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, token)
    return MemoryDbIamCredentialProvider(USER, CLUSTER, REGION, credentials=credentials, clock=clock or Clock())


def _sigv4_signature(host: str, params: list[tuple[str, str]], date: str) -> str:
    """The SigV4 query signature of ``GET https://<host>/?<params>`` (AWS General Reference, "Create a signed AWS API
    request"), computed here with hashlib and hmac only."""

    def encode(value: str) -> str:
        return quote(value, safe="-_.~")

    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params))
    canonical = "\n".join(["GET", "/", query, f"host:{host}", "", "host", hashlib.sha256(b"").hexdigest()])
    scope = f"{date[:8]}/{REGION}/memorydb/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (date[:8], REGION, "memorydb", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_the_documented_presigned_connect_request(signing_time: list[datetime.datetime]) -> None:
    provider = _provider()
    gc.collect()  # the signer's event emitter is a weak reference: the provider must keep its session alive
    user, token = provider.get_credentials()
    assert user == USER
    assert not token.startswith(("http://", "https://")), "the scheme is stripped"
    parts = urlsplit(f"//{token}")
    assert (parts.netloc, parts.path) == (CLUSTER, "/")
    params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    assert params[:2] == [("Action", "connect"), ("User", USER)]
    values = dict(params)
    assert values == {
        "Action": "connect",
        "User": USER,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{ACCESS_KEY}/20261203/{REGION}/memorydb/aws4_request",
        "X-Amz-Date": "20261203T100000Z",
        "X-Amz-Expires": str(TOKEN_EXPIRY_SECONDS),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Security-Token": SESSION_TOKEN,
        "X-Amz-Signature": values["X-Amz-Signature"],
    }
    assert TOKEN_EXPIRY_SECONDS == 900, "the guide's token lifetime"
    unsigned = [(k, v) for k, v in params if k != "X-Amz-Signature"]
    assert values["X-Amz-Signature"] == _sigv4_signature(CLUSTER, unsigned, "20261203T100000Z")


def test_a_token_without_a_session_token_is_signed_too(signing_time: list[datetime.datetime]) -> None:
    _, token = _provider(token=None).get_credentials()
    params = parse_qsl(urlsplit(f"//{token}").query)
    assert "X-Amz-Security-Token" not in dict(params)
    unsigned = [(k, v) for k, v in params if k != "X-Amz-Signature"]
    assert dict(params)["X-Amz-Signature"] == _sigv4_signature(CLUSTER, unsigned, "20261203T100000Z")


def test_a_token_is_reused_for_new_connections_then_signed_again(signing_time: list[datetime.datetime]) -> None:
    clock = Clock()
    provider = _provider(clock)
    first = provider.get_credentials()
    signing_time[0] = SIGNED_AT + datetime.timedelta(minutes=1)
    clock.now += TOKEN_REUSE_SECONDS - 1
    assert provider.get_credentials() == first, "still well inside its 15 minutes"
    clock.now += 1
    user, renewed = provider.get_credentials()
    assert user == USER and renewed != first[1]
    assert dict(parse_qsl(urlsplit(f"//{renewed}").query))["X-Amz-Date"] == "20261203T100100Z"
    assert TOKEN_REUSE_SECONDS < TOKEN_EXPIRY_SECONDS


@pytest.mark.parametrize(("user", "cluster", "region"), [("", CLUSTER, REGION), (USER, "", REGION), (USER, CLUSTER, "")])
def test_a_missing_user_cluster_or_region_is_refused_by_name(user: str, cluster: str, region: str) -> None:
    with pytest.raises(ValueError, match="needs a user, a cluster name and a region; got user="):
        MemoryDbIamCredentialProvider(user, cluster, region, credentials=Credentials(ACCESS_KEY, SECRET_KEY))


def _local_settings(host: str, port: int, *, cluster: bool = False, user: str = "", cluster_name: str = "") -> Settings:
    """A function's settings for a local Redis server or cluster (no TLS)."""
    return Settings(
        region=REGION,
        table_name="t",
        cache_host=host,
        cache_port=port,
        cache_user=user,
        cache_cluster_name=cluster_name,
        cache_tls=False,
        cache_cluster=cluster,
    )


def test_the_client_authenticates_with_the_token_as_the_users_password(
    redis_server: RedisServer, signing_time: list[datetime.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py sends AUTH <user> <token>: a local Redis with an ACL user whose password is that token admits it,
    and the same user with another token is refused."""
    monkeypatch.setattr(
        "functions.shared.memorydb_auth.botocore.session.Session.get_credentials",
        lambda self: Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN),
    )
    settings = _local_settings(redis_server.host, redis_server.port, user=USER, cluster_name=CLUSTER)
    _, token = _provider().get_credentials()
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)
    admin.acl_setuser(USER, enabled=True, passwords=[f"+{token}"], keys="~*", commands=["+@all"])
    client = redis_client(settings)
    assert client is not None
    try:
        pool = client.client.connection_pool
        assert isinstance(pool.connection_kwargs["credential_provider"], MemoryDbIamCredentialProvider)
        assert "password" not in pool.connection_kwargs or pool.connection_kwargs["password"] is None
        assert client.ping() is True
        assert client.client.acl_whoami() == USER
        admin.acl_setuser(USER, reset_passwords=True, passwords=["+another-token"])
        client.close()
        refused = redis_client(settings)
        assert refused is not None
        with pytest.raises(redis.AuthenticationError):
            refused.ping()
        refused.close()
    finally:
        admin.acl_deluser(USER)
        admin.close()


def test_the_cluster_client_authenticates_every_node_with_the_token(
    redis_cluster: RedisClusterServers, signing_time: list[datetime.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MemoryDB speaks the cluster protocol: redis-py's cluster client hands the provider to every node's connections."""
    monkeypatch.setattr(
        "functions.shared.memorydb_auth.botocore.session.Session.get_credentials",
        lambda self: Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN),
    )
    _, token = _provider().get_credentials()
    admins = [redis.Redis(host=node.host, port=node.port) for node in redis_cluster.nodes]
    for admin in admins:
        admin.acl_setuser(USER, enabled=True, passwords=[f"+{token}"], keys="~*", commands=["+@all"])
    client = redis_client(_local_settings(redis_cluster.host, redis_cluster.port, cluster=True, user=USER, cluster_name=CLUSTER))
    assert client is not None
    try:
        keys = [f"item-{n}" for n in range(12)]  # spread over the three masters' slots
        for key in keys:
            assert client.set(key, "v") is True
        assert len({client.client.get_node_from_key(k).name for k in keys}) == len(redis_cluster.nodes)
        assert all(client.client.acl_whoami(target_nodes=node) == USER for node in client.client.get_primaries())
    finally:
        client.close()
        for admin in admins:
            admin.acl_deluser(USER)
            admin.close()


def test_without_a_cluster_name_the_client_sends_no_credentials(redis_server: RedisServer) -> None:
    client = clients._build_redis(_local_settings(redis_server.host, redis_server.port))
    assert isinstance(client, redis.Redis)
    try:
        assert client.connection_pool.connection_kwargs.get("credential_provider") is None
        assert client.ping() is True
    finally:
        client.close()
