"""The S3 bucket that holds the Lambda zip: created when missing, emptied and removed at teardown.

CloudFormation reads a function's code from S3, so a deploy needs a bucket. Its default
name carries the account and region (bucket names are global); it blocks public access and
encrypts at rest, as any bucket should.
"""

from __future__ import annotations

from typing import Any

import boto3

from chatlib.deploy.package import CodePackage

__all__ = ["default_bucket_name", "delete_bucket", "ensure_bucket", "upload_package"]


def default_bucket_name(stack_name: str) -> str:
    sts = boto3.client("sts")
    account = sts.get_caller_identity()["Account"]
    return f"{stack_name.lower()}-artifacts-{account}-{sts.meta.region_name}"


def ensure_bucket(name: str) -> bool:
    """Create the bucket unless it exists; True if it was created now."""
    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        return False
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    region = s3.meta.region_name
    location = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **location)
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return True


def upload_package(bucket: str, package: CodePackage) -> bool:
    """Upload the zip under its content key; False when that exact zip is already there."""
    s3 = boto3.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=package.key)
        return False
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.put_object(Bucket=bucket, Key=package.key, Body=package.data)
    return True


def delete_bucket(name: str) -> int:
    """Empty the bucket (every object version) and delete it; returns how many were removed."""
    s3: Any = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        return 0
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        objects = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for group in ("Versions", "DeleteMarkers")
            for entry in page.get(group, [])
        ]
        if objects:
            s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
            removed += len(objects)
    s3.delete_bucket(Bucket=name)
    return removed
