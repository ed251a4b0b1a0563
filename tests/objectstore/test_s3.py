"""S3 through boto3, the aws cli and hand-made aws-chunked bodies, with keys from `openstack ec2 credentials create`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from gureum.testing import VENV_BIN, RunningCloud
from tests.objectstore.conftest import Identity, SwiftUser, unique


@pytest.fixture
def ec2(os_cloud: RunningCloud, owner: SwiftUser) -> dict[str, str]:
    env = os_cloud.env_for(owner.name, owner.password, owner.project)
    return os_cloud.openstack_json("ec2", "credentials", "create", env=env)


def client(os_cloud: RunningCloud, ec2: dict[str, str], **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=f"{os_cloud.base_url}/s3", aws_access_key_id=ec2["access"],
                        aws_secret_access_key=ec2["secret"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))


@pytest.fixture
def s3(os_cloud: RunningCloud, ec2: dict[str, str]) -> Iterator[Any]:
    yield client(os_cloud, ec2)


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_buckets_and_objects(s3: Any, owner: SwiftUser) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    assert error_code(lambda: s3.create_bucket(Bucket=bucket)) == "BucketAlreadyOwnedByYou"
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=bucket)
    put = s3.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"hello", Metadata={"color": "blue"},
                        ContentType="text/plain")
    assert put["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/a.txt")
    assert got["Body"].read() == b"hello" and got["Metadata"] == {"color": "blue"}
    assert got["ContentType"] == "text/plain"
    assert s3.get_object(Bucket=bucket, Key="dir/a.txt", Range="bytes=1-3")["Body"].read() == b"ell"
    assert s3.head_object(Bucket=bucket, Key="dir/a.txt")["ContentLength"] == 5
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="missing")) == "NoSuchKey"
    assert error_code(lambda: s3.get_object(Bucket=unique("nob"), Key="x")) == "NoSuchBucket"
    assert error_code(lambda: s3.delete_bucket(Bucket=bucket)) == "BucketNotEmpty"
    # The same bytes through Swift: a bucket is a container of the project.
    with owner.client() as swift:
        assert swift.get(f"/{bucket}/dir/a.txt").content == b"hello"
        assert swift.head(f"/{bucket}/dir/a.txt").headers["x-object-meta-color"] == "blue"
    s3.delete_object(Bucket=bucket, Key="dir/a.txt")
    s3.delete_object(Bucket=bucket, Key="dir/a.txt")  # S3 deletes what is not there too
    s3.delete_bucket(Bucket=bucket)
    assert error_code(lambda: s3.head_bucket(Bucket=bucket)) == "404"


def test_list_objects_v2_and_delete_objects(s3: Any) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    keys = ["a/1", "a/2", "b/1", "c", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "d"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a/")["Contents"]] == ["a/1", "a/2"]
    seen, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **({"ContinuationToken": token} if token else {}))
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    paginator = s3.get_paginator("list_objects_v2")
    assert sum(len(p.get("Contents", [])) for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})) == 5
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in result["Deleted"]) == keys
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_upload(s3: Any, owner: SwiftUser, os_cloud: RunningCloud) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(11 * 1024 * 1024 + 3)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin",
                      Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    parts = [data[i:i + 5 * 1024 * 1024] for i in range(0, len(data), 5 * 1024 * 1024)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert head["ETag"] == f'"{digest}-3"' and head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    with owner.client() as swift:
        names = [c["name"] for c in swift.get("", params={"format": "json"}).json()]
    assert not [n for n in names if n.startswith(bucket + "+")]  # no visible segments container
    # Too-small parts, wrong ETags and aborts.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    one = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=1, Body=b"a")["ETag"]
    two = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=2, Body=b"b")["ETag"]
    parts_xml = {"Parts": [{"PartNumber": 1, "ETag": one}, {"PartNumber": 2, "ETag": two}]}
    assert error_code(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload,
                                                           MultipartUpload=parts_xml)) == "EntityTooSmall"
    wrong = {"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}
    assert error_code(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload,
                                                           MultipartUpload=wrong)) == "InvalidPart"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload)
    assert error_code(lambda: s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=1,
                                             Body=b"a")) == "NoSuchUpload"
    s3.delete_object(Bucket=bucket, Key="big.bin")
    blobs = [p for p in (os_cloud.state_dir / "objects" / "data").rglob("*") if p.is_file()]
    with owner.client() as swift:
        assert swift.head(f"/{bucket}").headers["x-container-bytes-used"] == "0"
    del blobs


def test_list_multipart_uploads_and_parts(s3: Any, os_cloud: RunningCloud, identity: Identity,
                                          owner: SwiftUser) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    first = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    nested = s3.create_multipart_upload(Bucket=bucket, Key="dir/x y")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [("big", first), ("big", second),
                                                                      ("dir/x y", nested)]
    assert listed["IsTruncated"] is False and listed["MaxUploads"] == 1000
    assert listed["Uploads"][0]["StorageClass"] == "STANDARD" and listed["Uploads"][0]["Owner"]["ID"]
    assert listed["Uploads"][0]["Initiated"].year >= 2024
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")["Uploads"]] == ["dir/x y"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["UploadId"] for u in grouped["Uploads"]] == [first, second]
    assert grouped["CommonPrefixes"] == [{"Prefix": "dir/"}] and grouped["Delimiter"] == "/"
    seen, markers = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **markers)
        seen += [u["UploadId"] for u in page["Uploads"]]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == [first, second, nested]
    etags = [s3.upload_part(Bucket=bucket, Key="big", UploadId=first, PartNumber=n, Body=bytes([n]) * 10)["ETag"]
             for n in (1, 2)]
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=first)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts["Parts"]] == [(1, etags[0], 10), (2, etags[1], 10)]
    assert parts["IsTruncated"] is False and parts["UploadId"] == first and parts["StorageClass"] == "STANDARD"
    page = s3.list_parts(Bucket=bucket, Key="big", UploadId=first, MaxParts=1)
    assert [p["PartNumber"] for p in page["Parts"]] == [1] and page["IsTruncated"] is True
    page = s3.list_parts(Bucket=bucket, Key="big", UploadId=first, MaxParts=1,
                         PartNumberMarker=page["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in page["Parts"]] == [2] and page["IsTruncated"] is False
    assert error_code(lambda: s3.list_parts(Bucket=bucket, Key="big", UploadId="nope")) == "NoSuchUpload"
    assert error_code(lambda: s3.list_parts(Bucket=bucket, Key="dir/x y", UploadId=first)) == "NoSuchUpload"

    # encoding-type=url: keys come back percent-encoded (a '+' or '%' in a key would not survive otherwise).
    odd = s3.create_multipart_upload(Bucket=bucket, Key="odd+key %20é")["UploadId"]
    encoded = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", Prefix="odd")
    assert [(u["Key"], u["UploadId"]) for u in encoded["Uploads"]] == [("odd%2Bkey%20%2520%C3%A9", odd)]
    assert encoded["EncodingType"] == "url" and encoded["Prefix"] == "odd"
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="odd")["Uploads"]] == ["odd+key %20é"]
    assert error_code(lambda: s3.list_multipart_uploads(Bucket=bucket, EncodingType="base64")) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="odd+key %20é", UploadId=odd)

    # A reader of the project lists the uploads and their parts, and may not add one.
    reader = identity.user("reader", project_id=owner.project_id)
    env = os_cloud.env_for(reader.name, reader.password, reader.project)
    reading = client(os_cloud, os_cloud.openstack_json("ec2", "credentials", "create", env=env))
    assert [p["PartNumber"] for p in reading.list_parts(Bucket=bucket, Key="big", UploadId=first)["Parts"]] == [1, 2]
    assert len(reading.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 3
    assert error_code(lambda: reading.upload_part(Bucket=bucket, Key="big", UploadId=first, PartNumber=3,
                                                  Body=b"x")) == "AccessDenied"

    def bad_max(request: Any, **_: Any) -> None:  # boto3 checks MaxUploads itself: spoil it before signing
        request.url = request.url.replace("max-uploads=7", "max-uploads=x")
    s3.meta.events.register("before-sign.s3.ListMultipartUploads", bad_max)
    assert error_code(lambda: s3.list_multipart_uploads(Bucket=bucket, MaxUploads=7)) == "InvalidArgument"
    s3.meta.events.unregister("before-sign.s3.ListMultipartUploads", bad_max)
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=first, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etags[0]}]})  # a lone part may be small
    s3.abort_multipart_upload(Bucket=bucket, Key="dir/x y", UploadId=nested)
    left = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["UploadId"] for u in left["Uploads"]] == [second]
    s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=second)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"\x01" * 10


def test_presigned_urls_and_bad_signatures(s3: Any, os_cloud: RunningCloud, ec2: dict[str, str]) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    for signer in ("s3", "s3v4"):
        signing = client(os_cloud, ec2, signature_version=signer)
        url = signing.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
        assert httpx.get(url).content == b"shared"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=60)
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
    wrong = boto3.client("s3", endpoint_url=f"{os_cloud.base_url}/s3", aws_access_key_id=ec2["access"],
                         aws_secret_access_key="not-the-secret", region_name="us-east-1",
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert error_code(lambda: wrong.list_buckets()) == "SignatureDoesNotMatch"
    stranger = boto3.client("s3", endpoint_url=f"{os_cloud.base_url}/s3", aws_access_key_id="unknown",
                            aws_secret_access_key="x", region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert error_code(lambda: stranger.list_buckets()) == "InvalidAccessKeyId"
    anonymous = httpx.get(f"{os_cloud.base_url}/s3/{bucket}/k")
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content


def _signed_chunked_put(os_cloud: RunningCloud, ec2: dict[str, str], url: str, data: bytes,
                        payload: str, chunk: int = 65536, crc_of: bytes | None = None,
                        tamper: bool = False) -> httpx.Response:
    """A PUT with an aws-chunked body made here, signed with botocore's SigV4 for the seed."""
    crc = base64.b64encode(zlib.crc32(data if crc_of is None else crc_of).to_bytes(4, "big")).decode()
    headers = {"x-amz-content-sha256": payload, "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data))}
    if payload.endswith("TRAILER"):
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    request = botocore.awsrequest.AWSRequest(method="PUT", url=url, headers=headers)
    credentials = botocore.credentials.Credentials(ec2["access"], ec2["secret"])
    class StreamingAuth(botocore.auth.S3SigV4Auth):
        def payload(self, request: Any) -> str:  # the seed signs the streaming marker, as botocore's own
            return payload

    signer = StreamingAuth(credentials, "s3", "us-east-1")
    signer.add_auth(request)
    assert request.headers["x-amz-content-sha256"] == payload
    auth = request.headers["Authorization"]
    seed = auth.rsplit("Signature=", 1)[1]
    amz_date = request.headers["x-amz-date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = signer._sign(("AWS4" + ec2["secret"]).encode(), amz_date[:8])  # noqa: SLF001 - botocore's HMAC step
    for part in ("us-east-1", "s3", "aws4_request"):
        key = signer._sign(key, part)  # noqa: SLF001
    body, previous = bytearray(), seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        if payload.startswith("STREAMING-AWS4"):
            to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
                                 hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()])
            previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            body += f"{len(piece):x};chunk-signature={previous}\r\n".encode()
        else:
            body += f"{len(piece):x}\r\n".encode()
        if piece:
            body += (piece[:-1] + bytes([piece[-1] ^ 1]) if tamper else piece) + b"\r\n"
    if payload.endswith("TRAILER"):
        body += f"x-amz-checksum-crc32:{crc}\r\n".encode()
    body += b"\r\n"
    sent = {k: v for k, v in request.headers.items()}
    return httpx.put(url, content=bytes(body), headers=sent)


@pytest.mark.parametrize("payload", ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
def test_aws_chunked_uploads(s3: Any, os_cloud: RunningCloud, ec2: dict[str, str], payload: str) -> None:
    bucket = unique("b")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(200_000)
    url = f"{os_cloud.base_url}/s3/{bucket}/chunked.bin"
    response = _signed_chunked_put(os_cloud, ec2, url, data, payload)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == data
    if payload.endswith("TRAILER"):
        # A trailer CRC that does not match the bytes: refused, and nothing is left behind.
        bad = _signed_chunked_put(os_cloud, ec2, f"{os_cloud.base_url}/s3/{bucket}/bad.bin", data, payload,
                                  crc_of=b"other bytes")
        assert bad.status_code == 400 and b"<Code>BadDigest</Code>" in bad.content
        assert error_code(lambda: s3.head_object(Bucket=bucket, Key="bad.bin")) == "404"
    else:
        # A chunk signature that does not chain: refused.
        bad = _signed_chunked_put(os_cloud, ec2, f"{os_cloud.base_url}/s3/{bucket}/bad.bin", data, payload,
                                  tamper=True)
        assert bad.status_code == 403 and b"SignatureDoesNotMatch" in bad.content


def test_aws_cli(os_cloud: RunningCloud, ec2: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OS_"))}
    env.update(AWS_ACCESS_KEY_ID=ec2["access"], AWS_SECRET_ACCESS_KEY=ec2["secret"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "config"))
    (tmp_path / "config").write_text("[default]\ns3 =\n    addressing_style = path\n")
    bucket = unique("b")
    data = os.urandom(20 * 1024 * 1024)
    (tmp_path / "db.tar.gz").write_bytes(data)

    def aws(*args: str) -> str:
        cmd = [str(VENV_BIN / "aws"), "--endpoint-url", f"{os_cloud.base_url}/s3", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr + result.stdout
        return result.stdout

    aws("s3", "mb", f"s3://{bucket}")
    aws("s3", "cp", "db.tar.gz", f"s3://{bucket}/")
    assert "db.tar.gz" in aws("s3", "ls", f"s3://{bucket}/")
    aws("s3", "cp", f"s3://{bucket}/db.tar.gz", "back.tar.gz")
    assert (tmp_path / "back.tar.gz").read_bytes() == data
    aws("s3", "rm", f"s3://{bucket}/db.tar.gz")
    aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in aws("s3", "ls")


def test_json_shapes_of_errors(os_cloud: RunningCloud, ec2: dict[str, str]) -> None:
    del ec2
    response = httpx.put(f"{os_cloud.base_url}/s3/somebucket", headers={"Authorization": "AWS4-HMAC-SHA256 nonsense"})
    assert response.status_code == 400 and b"AuthorizationHeaderMalformed" in response.content
    assert json.dumps  # the module keeps json for debugging payloads
