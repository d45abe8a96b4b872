"""The status page: the static files of ``web/status/`` in every region's bucket, served by CloudFront.

The files go to each region's bucket under ``status/`` (CloudFront's origin group reads the primary's bucket and fails
over to the next, so the page fails over with them), with ``config.json`` naming the regions the page asks. The page
reads each region's public summary at ``/regions/<region>/status`` on the same distribution (``components/edge.py``
routes that path to the region's API), so it needs no CORS and holds no credentials. Why: docs/design/status-page.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.storage import RegionalBucket

PAGE_DIRECTORY = Path(__file__).resolve().parent.parent / "web" / "status"
PAGE_PREFIX = "status/"
CONFIG_FILE = "config.json"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
}
# The files change with a deploy only; a minute at the edge keeps a deploy visible soon after.
PAGE_CACHE_CONTROL = "public, max-age=60"
REFRESH_SECONDS = 5
TIMEOUT_SECONDS = 4


def page_files(directory: Path = PAGE_DIRECTORY) -> dict[str, str]:
    """The page's files by name (``index.html``, ``status.css``, ``status.js``), as text.

    Raises
    ------
    ValueError
        A file whose suffix has no content type in ``CONTENT_TYPES``, or no ``index.html``.
    """
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.iterdir()) if path.is_file()}
    unknown = [name for name in files if Path(name).suffix not in CONTENT_TYPES]
    if unknown or "index.html" not in files:
        suffixes = ", ".join(CONTENT_TYPES)
        raise ValueError(f"{directory}: every file needs one of {suffixes} and index.html must exist; got {sorted(files)}")
    return files


def page_config(regions: Sequence[str], *, api_base: str = "", events_mode: str = "signed", events_endpoint: str = "") -> str:
    """``config.json``: the regions in order, where their summaries are (``api_base`` + ``/regions/...``; empty: the
    page's own origin), and how the form sends events (``signed``: it explains the signed call to ``events_endpoint``;
    ``direct``: it posts to ``api_base/regions/<region>/events``, as the drill's server takes them). Nothing in it names
    the primary: the page learns the active region from the regions' answers, and a failover's reconcile (a new
    ``primaryRegion``) changes no object.

    Raises
    ------
    ValueError
        ``events_mode`` is neither ``signed`` nor ``direct``, or ``regions`` is empty.
    """
    if events_mode not in ("signed", "direct"):
        raise ValueError(f"events_mode must be signed or direct, got {events_mode!r}")
    if not regions:
        raise ValueError("regions must name at least one region, got none")
    config = {
        "regions": list(regions),
        "apiBase": api_base,
        "refreshSeconds": REFRESH_SECONDS,
        "timeoutSeconds": TIMEOUT_SECONDS,
        "events": {"mode": events_mode, "endpoint": events_endpoint},
    }
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def content_type(name: str) -> str:
    """The ``Content-Type`` a file is served with, by its suffix."""
    return CONTENT_TYPES[Path(name).suffix]


def site_files(config: str) -> dict[str, str]:
    """What every region's bucket holds under ``status/``: the page's files and ``config`` as ``config.json``."""
    return {**page_files(), CONFIG_FILE: config}


def upload_status_page(bucket: RegionalBucket, files: Mapping[str, str]) -> list[aws.s3.BucketObjectv2]:
    """``files`` (``site_files``) as objects of ``bucket`` under ``status/``, children of the bucket (so in its region's
    RegionalStack, through its provider), encrypted with the region's key."""
    return [
        aws.s3.BucketObjectv2(
            f"{bucket.region}-status-page-{name.replace('.', '-')}",
            bucket=bucket.bucket_name,
            key=f"{PAGE_PREFIX}{name}",
            content=text,
            content_type=content_type(name),
            cache_control=PAGE_CACHE_CONTROL,
            server_side_encryption="aws:kms",
            kms_key_id=bucket.key_arn,
            bucket_key_enabled=True,
            opts=pulumi.ResourceOptions(parent=bucket.bucket),
        )
        for name, text in files.items()
    ]
