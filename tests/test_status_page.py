"""The status page in the program: its files in every region's bucket under ``status/`` (content types, the region's
key, children of the bucket), its ``config.json``, and the page's files themselves (no external reference)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.status_page import PAGE_DIRECTORY, content_type, page_config, page_files
from planning.harness import ACCOUNT_ID, ProgramRun, Resource
from tests.support.program import THREE_REGIONS_LATENCY, ProgramRunner

OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
BUCKET = "aws:s3/bucket:Bucket"
FILES = ("config.json", "index.html", "status.css", "status.js")


def page_objects(run: ProgramRun, region: str) -> dict[str, Resource]:
    return {o.inputs["key"]: o for o in run.of_type(OBJECT, region) if o.inputs["key"].startswith("status/")}


def test_every_region_holds_the_page_under_status_with_its_content_types_and_key(stack_run: ProgramRun) -> None:
    for region in stack_run.region_order:
        objects = page_objects(stack_run, region)
        assert sorted(objects) == [f"status/{name}" for name in FILES]
        bucket_name = f"multi-region-{stack_run.stack}-{region}-{ACCOUNT_ID}"
        (bucket,) = [b for b in stack_run.of_type(BUCKET, region) if b.inputs.get("bucket") == bucket_name]
        key_arn = stack_run.outputs["regions"][region]["kmsKeyArn"]
        for key, found in objects.items():
            name = key.removeprefix("status/")
            assert found.parent == bucket.urn, key
            assert found.inputs["bucket"] == bucket_name
            assert found.inputs["contentType"] == content_type(name)
            assert (found.inputs["serverSideEncryption"], found.inputs["kmsKeyId"]) == ("aws:kms", key_arn)
            if name != "config.json":
                assert found.inputs["content"] == (PAGE_DIRECTORY / name).read_text(encoding="utf-8")


def test_the_config_names_the_regions_and_explains_the_signed_events_route(stack_run: ProgramRun) -> None:
    config = json.loads(page_objects(stack_run, stack_run.region_order[0])["status/config.json"].inputs["content"])
    assert config["regions"] == list(stack_run.region_order)
    assert "primary" not in config  # a failover's reconcile changes no object of the page
    assert config["apiBase"] == ""  # the distribution routes /regions/<region>/* to the region's API: same origin
    domain = stack_run.config.edge.domain_name
    assert config["events"] == {"mode": "signed", "endpoint": f"https://api.{domain}/events" if domain else ""}


def test_a_stack_of_three_regions_asks_all_three(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_LATENCY)
    regions = list(run.region_order)
    assert len(regions) == 3
    for region in regions:
        config = json.loads(page_objects(run, region)["status/config.json"].inputs["content"])
        assert config["regions"] == regions


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN, no font, no analytics: every reference is relative (the page works wherever CloudFront serves it)."""
    for name, text in page_files().items():
        assert not re.findall(r"https?://", text), name
        assert not re.findall(r"""(?:src|href)=["'](?!status\.|[a-z]+\.(?:css|js)["'])""", text), name
    html = page_files()["index.html"]
    assert '<script src="status.js"></script>' in html and '<link rel="stylesheet" href="status.css">' in html


def test_page_config_refuses_what_it_cannot_serve() -> None:
    with pytest.raises(ValueError, match="events_mode must be signed or direct, got 'open'"):
        page_config(["us-east-1", "eu-west-1"], events_mode="open")
    with pytest.raises(ValueError, match="regions must name at least one region, got none"):
        page_config([])


def test_a_file_without_a_content_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!DOCTYPE html>", encoding="utf-8")
    (tmp_path / "logo.svg").write_text("<svg/>", encoding="utf-8")
    with pytest.raises(ValueError, match=r"every file needs one of .html, .css, .js, .json"):
        page_files(tmp_path)
