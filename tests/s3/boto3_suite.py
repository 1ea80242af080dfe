"""boto3 against Cairn's S3 API: every operation the S3 issue lists.

Run by tests/tests/s3_clients.rs with the `openrc` of a fresh `cairn up` in
the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION). Exits non-zero when any check fails.
"""

import base64
import datetime
import hashlib
import os
import socket
import time
import unittest
import urllib.error
import urllib.request
import uuid

import boto3
import botocore
from botocore.config import Config

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
MIB = 1024 * 1024


def client(**kw):
    cfg = Config(
        s3={"addressing_style": kw.pop("style", "path")},
        retries={"max_attempts": 1},
        **kw,
    )
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name=REGION, config=cfg)


def error_code(exc):
    return exc.response["Error"]["Code"]


def new_bucket(s3):
    name = "b-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def empty_and_delete(s3, bucket):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    s3.delete_bucket(Bucket=bucket)


class Buckets(unittest.TestCase):
    def setUp(self):
        self.s3 = client()

    def test_create_list_head_locate_delete(self):
        name = new_bucket(self.s3)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn(name, names)
        self.s3.head_bucket(Bucket=name)
        loc = self.s3.get_bucket_location(Bucket=name)["LocationConstraint"]
        self.assertIn(loc, (None, "", REGION))
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.create_bucket(Bucket=name)
        self.assertIn(error_code(cm.exception), ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"))
        self.s3.put_object(Bucket=name, Key="k", Body=b"x")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.delete_bucket(Bucket=name)
        self.assertEqual(error_code(cm.exception), "BucketNotEmpty")
        self.s3.delete_object(Bucket=name, Key="k")
        self.s3.delete_bucket(Bucket=name)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.head_bucket(Bucket=name)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.list_objects_v2(Bucket=name)
        self.assertEqual(error_code(cm.exception), "NoSuchBucket")

    def test_invalid_bucket_name(self):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.create_bucket(Bucket="Bad_Name")
        self.assertEqual(error_code(cm.exception), "InvalidBucketName")

    def test_create_with_location_constraint(self):
        name = "b-" + uuid.uuid4().hex[:12]
        if REGION != "us-east-1":
            self.s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            self.s3.delete_bucket(Bucket=name)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": "mars-west-9"}
            )
        self.assertIn(
            error_code(cm.exception),
            ("InvalidLocationConstraint", "IllegalLocationConstraintException"),
        )

    def test_virtual_host_style(self):
        # `bucket.localhost` is loopback; Python's resolver needs telling.
        real = socket.getaddrinfo

        def resolve(host, *args, **kw):
            if isinstance(host, str) and host.endswith(".localhost"):
                host = "127.0.0.1"
            return real(host, *args, **kw)

        socket.getaddrinfo = resolve
        try:
            port = ENDPOINT.rsplit(":", 1)[1]
            vh = boto3.client(
                "s3",
                endpoint_url=f"http://localhost:{port}",
                region_name=REGION,
                config=Config(s3={"addressing_style": "virtual"}),
            )
            name = new_bucket(vh)
            vh.put_object(Bucket=name, Key="dir/v.txt", Body=b"virtual")
            self.assertEqual(vh.get_object(Bucket=name, Key="dir/v.txt")["Body"].read(), b"virtual")
            keys = [o["Key"] for o in vh.list_objects_v2(Bucket=name)["Contents"]]
            self.assertEqual(keys, ["dir/v.txt"])
            # The same object through path style.
            self.assertEqual(
                self.s3.get_object(Bucket=name, Key="dir/v.txt")["Body"].read(), b"virtual"
            )
            empty_and_delete(vh, name)
        finally:
            socket.getaddrinfo = real


class Objects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = new_bucket(cls.s3)

    @classmethod
    def tearDownClass(cls):
        empty_and_delete(cls.s3, cls.bucket)

    def put(self, key, body, **kw):
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **kw)

    def test_put_get_head_delete_with_metadata(self):
        body = os.urandom(100_000)
        r = self.put(
            "a/b c+d.bin",
            body,
            Metadata={"color": "blue", "Mixed-Case": "V"},
            ContentType="application/x-test",
            ContentDisposition="attachment",
            CacheControl="no-cache",
        )
        self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        g = self.s3.get_object(Bucket=self.bucket, Key="a/b c+d.bin")
        self.assertEqual(g["Body"].read(), body)
        self.assertEqual(g["Metadata"], {"color": "blue", "mixed-case": "V"})
        self.assertEqual(g["ContentType"], "application/x-test")
        self.assertEqual(g["ContentDisposition"], "attachment")
        self.assertEqual(g["CacheControl"], "no-cache")
        self.assertIn("x-amz-request-id", g["ResponseMetadata"]["HTTPHeaders"])
        h = self.s3.head_object(Bucket=self.bucket, Key="a/b c+d.bin")
        self.assertEqual(h["ContentLength"], len(body))
        self.assertEqual(h["ETag"], r["ETag"])
        self.s3.delete_object(Bucket=self.bucket, Key="a/b c+d.bin")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="a/b c+d.bin")
        self.assertEqual(error_code(cm.exception), "NoSuchKey")
        # Deleting a missing key is not an error in S3.
        self.s3.delete_object(Bucket=self.bucket, Key="a/b c+d.bin")

    def test_unusual_keys(self):
        for key in ["ünïcødé/ключ", "sp ace", "q?x=1&y", "percent%41", "~tilde!*'()", "a//b"]:
            self.put(key, key.encode())
            self.assertEqual(
                self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(), key.encode()
            )

    def test_empty_object(self):
        self.put("empty", b"")
        g = self.s3.get_object(Bucket=self.bucket, Key="empty")
        self.assertEqual(g["Body"].read(), b"")
        self.assertEqual(g["ETag"], '"d41d8cd98f00b204e9800998ecf8427e"')

    def test_ranges(self):
        body = bytes(range(256)) * 40
        self.put("ranged", body)
        g = self.s3.get_object(Bucket=self.bucket, Key="ranged", Range="bytes=10-19")
        self.assertEqual(g["Body"].read(), body[10:20])
        self.assertEqual(g["ContentRange"], "bytes 10-19/%d" % len(body))
        g = self.s3.get_object(Bucket=self.bucket, Key="ranged", Range="bytes=-5")
        self.assertEqual(g["Body"].read(), body[-5:])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="ranged", Range="bytes=999999-")
        self.assertEqual(error_code(cm.exception), "InvalidRange")

    def test_conditional_get(self):
        r = self.put("cond", b"conditional")
        etag = r["ETag"]
        self.s3.get_object(Bucket=self.bucket, Key="cond", IfMatch=etag)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="cond", IfMatch='"nope"')
        self.assertEqual(error_code(cm.exception), "PreconditionFailed")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="cond", IfNoneMatch=etag)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 304)
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="cond", IfModifiedSince=future)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 304)
        self.s3.get_object(Bucket=self.bucket, Key="cond", IfModifiedSince=past)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=self.bucket, Key="cond", IfUnmodifiedSince=past)
        self.assertEqual(error_code(cm.exception), "PreconditionFailed")

    def test_response_overrides(self):
        self.put("override", b"o", ContentType="text/plain")
        g = self.s3.get_object(
            Bucket=self.bucket,
            Key="override",
            ResponseContentType="application/octet-stream",
            ResponseContentDisposition='attachment; filename="x.bin"',
            ResponseCacheControl="max-age=5",
        )
        self.assertEqual(g["ContentType"], "application/octet-stream")
        self.assertEqual(g["ContentDisposition"], 'attachment; filename="x.bin"')
        self.assertEqual(g["CacheControl"], "max-age=5")

    def test_content_md5(self):
        body = b"checked body"
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.put("md5", body, ContentMD5=md5)
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.put("md5-bad", body, ContentMD5=bad)
        self.assertEqual(error_code(cm.exception), "BadDigest")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.put("md5-bad", body, ContentMD5="not base64!")
        self.assertEqual(error_code(cm.exception), "InvalidDigest")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3.head_object(Bucket=self.bucket, Key="md5-bad")

    def test_checksums(self):
        body = os.urandom(70_000)
        for algo in ("CRC32", "CRC32C", "SHA256", "SHA1"):
            key = "sum-" + algo
            self.put(key, body, ChecksumAlgorithm=algo)
            self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(), body)
        sha = base64.b64encode(hashlib.sha256(b"different").digest()).decode()
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.put("sum-bad", body, ChecksumSHA256=sha)
        self.assertEqual(error_code(cm.exception), "BadDigest")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3.head_object(Bucket=self.bucket, Key="sum-bad")

    def test_if_none_match_star(self):
        self.put("once", b"1", IfNoneMatch="*")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.put("once", b"2", IfNoneMatch="*")
        self.assertEqual(error_code(cm.exception), "PreconditionFailed")
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="once")["Body"].read(), b"1")

    def test_copy(self):
        self.put("src", b"source bytes", Metadata={"m": "1"}, ContentType="text/x-src")
        r = self.s3.copy_object(
            Bucket=self.bucket, Key="dst-copy", CopySource={"Bucket": self.bucket, "Key": "src"}
        )
        self.assertEqual(r["CopyObjectResult"]["ETag"], '"%s"' % hashlib.md5(b"source bytes").hexdigest())
        h = self.s3.head_object(Bucket=self.bucket, Key="dst-copy")
        self.assertEqual(h["Metadata"], {"m": "1"})
        self.assertEqual(h["ContentType"], "text/x-src")
        self.s3.copy_object(
            Bucket=self.bucket,
            Key="dst-replace",
            CopySource=f"{self.bucket}/src",
            MetadataDirective="REPLACE",
            Metadata={"n": "2"},
            ContentType="text/x-new",
        )
        h = self.s3.head_object(Bucket=self.bucket, Key="dst-replace")
        self.assertEqual(h["Metadata"], {"n": "2"})
        self.assertEqual(h["ContentType"], "text/x-new")
        self.assertEqual(
            self.s3.get_object(Bucket=self.bucket, Key="dst-replace")["Body"].read(), b"source bytes"
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.copy_object(
                Bucket=self.bucket,
                Key="dst-cond",
                CopySource=f"{self.bucket}/src",
                CopySourceIfMatch='"0000"',
            )
        self.assertEqual(error_code(cm.exception), "PreconditionFailed")
        self.s3.copy_object(
            Bucket=self.bucket,
            Key="dst-cond",
            CopySource=f"{self.bucket}/src",
            CopySourceIfNoneMatch='"0000"',
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.copy_object(Bucket=self.bucket, Key="src", CopySource=f"{self.bucket}/src")
        self.assertEqual(error_code(cm.exception), "InvalidRequest")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.copy_object(Bucket=self.bucket, Key="x", CopySource=f"{self.bucket}/missing")
        self.assertEqual(error_code(cm.exception), "NoSuchKey")

    def test_delete_objects(self):
        for i in range(5):
            self.put(f"del/{i}", b"d")
        r = self.s3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": f"del/{i}"} for i in range(6)]},
        )
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), [f"del/{i}" for i in range(6)])
        self.assertNotIn("Errors", r)
        for i in range(3):
            self.put(f"delq/{i}", b"d")
        r = self.s3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": f"delq/{i}"} for i in range(3)], "Quiet": True},
        )
        self.assertNotIn("Deleted", r)
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.bucket, Prefix="del")["KeyCount"], 0)


class Listing(unittest.TestCase):
    KEYS = ["a", "b/1", "b/2", "b/c/3", "c d", "d+e", "e/", "z<&>"]

    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = new_bucket(cls.s3)
        for k in cls.KEYS:
            cls.s3.put_object(Bucket=cls.bucket, Key=k, Body=k.encode())

    @classmethod
    def tearDownClass(cls):
        empty_and_delete(cls.s3, cls.bucket)

    def test_v1_and_v2_flat(self):
        v1 = self.s3.list_objects(Bucket=self.bucket)
        self.assertEqual([o["Key"] for o in v1["Contents"]], self.KEYS)
        self.assertFalse(v1["IsTruncated"])
        self.assertIn("Owner", v1["Contents"][0])
        v2 = self.s3.list_objects_v2(Bucket=self.bucket)
        self.assertEqual([o["Key"] for o in v2["Contents"]], self.KEYS)
        self.assertEqual(v2["KeyCount"], len(self.KEYS))
        self.assertNotIn("Owner", v2["Contents"][0])
        v2o = self.s3.list_objects_v2(Bucket=self.bucket, FetchOwner=True)
        self.assertIn("Owner", v2o["Contents"][0])
        self.assertEqual(v2["Contents"][1]["Size"], 3)
        self.assertEqual(v2["Contents"][1]["ETag"], '"%s"' % hashlib.md5(b"b/1").hexdigest())

    def test_prefix_and_delimiter(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["a", "c d", "d+e", "z<&>"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["b/", "e/"])
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="b/", Delimiter="/")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["b/1", "b/2"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["b/c/"])
        r = self.s3.list_objects(Bucket=self.bucket, Prefix="b/", Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["b/c/"])

    def test_paging_v1_marker(self):
        seen, marker = [], ""
        while True:
            r = self.s3.list_objects(Bucket=self.bucket, MaxKeys=3, Marker=marker)
            seen += [o["Key"] for o in r.get("Contents", [])]
            if not r["IsTruncated"]:
                break
            marker = r.get("NextMarker") or r["Contents"][-1]["Key"]
        self.assertEqual(seen, self.KEYS)

    def test_paging_v2_with_delimiter(self):
        got = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
        ):
            got += [o["Key"] for o in page.get("Contents", [])]
            got += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            self.assertLessEqual(page["KeyCount"], 1)
        self.assertEqual(got, ["a", "b/", "c d", "d+e", "e/", "z<&>"])

    def test_start_after(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, StartAfter="b/2")
        self.assertEqual([o["Key"] for o in r["Contents"]], self.KEYS[3:])

    def test_encoding_type_url(self):
        # boto3 asks for encoding-type=url by itself and decodes the keys.
        r = self.s3.list_objects_v2(Bucket=self.bucket)
        self.assertEqual([o["Key"] for o in r["Contents"]], self.KEYS)
        url = client(signature_version="s3v4").generate_presigned_url(
            "list_objects_v2", Params={"Bucket": self.bucket, "EncodingType": "url"}
        )
        with urllib.request.urlopen(url) as resp:
            raw = resp.read()
        self.assertIn(b"<Key>c%20d</Key>", raw)
        self.assertIn(b"<EncodingType>url</EncodingType>", raw)

    def test_max_keys_zero(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=0)
        self.assertEqual(r["KeyCount"], 0)
        self.assertNotIn("Contents", r)


class Multipart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = client()
        cls.bucket = new_bucket(cls.s3)

    @classmethod
    def tearDownClass(cls):
        empty_and_delete(cls.s3, cls.bucket)

    def test_three_part_upload(self):
        parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
        up = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key="big/obj", ContentType="application/x-big", Metadata={"k": "v"}
        )
        uid = up["UploadId"]
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]
        self.assertIn(uid, [u["UploadId"] for u in listed])
        etags = []
        for i, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=self.bucket, Key="big/obj", UploadId=uid, PartNumber=i, Body=p)
            self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(p).hexdigest())
            etags.append(r["ETag"])
        lp = self.s3.list_parts(Bucket=self.bucket, Key="big/obj", UploadId=uid)
        self.assertEqual([p["PartNumber"] for p in lp["Parts"]], [1, 2, 3])
        self.assertEqual([p["Size"] for p in lp["Parts"]], [len(p) for p in parts])
        lp = self.s3.list_parts(Bucket=self.bucket, Key="big/obj", UploadId=uid, MaxParts=2)
        self.assertTrue(lp["IsTruncated"])
        self.assertEqual(lp["NextPartNumberMarker"], 2)
        done = self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key="big/obj",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
        )
        want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
        self.assertEqual(done["ETag"], '"%s"' % want)
        g = self.s3.get_object(Bucket=self.bucket, Key="big/obj")
        self.assertEqual(g["Body"].read(), b"".join(parts))
        self.assertEqual(g["ETag"], '"%s"' % want)
        self.assertEqual(g["ContentType"], "application/x-big")
        self.assertEqual(g["Metadata"], {"k": "v"})
        r = self.s3.get_object(Bucket=self.bucket, Key="big/obj", Range="bytes=%d-%d" % (5 * MIB - 2, 5 * MIB + 1))
        self.assertEqual(r["Body"].read(), b"".join(parts)[5 * MIB - 2 : 5 * MIB + 2])
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="big/")["Contents"]
        self.assertEqual(listing[0]["Size"], sum(map(len, parts)))
        self.assertEqual(listing[0]["ETag"], '"%s"' % want)
        self.assertNotIn(uid, [u["UploadId"] for u in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])])
        self.s3.delete_object(Bucket=self.bucket, Key="big/obj")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3.head_object(Bucket=self.bucket, Key="big/obj")

    def test_upload_part_copy_with_range(self):
        src = os.urandom(6 * MIB)
        self.s3.put_object(Bucket=self.bucket, Key="copy-src", Body=src)
        uid = self.s3.create_multipart_upload(Bucket=self.bucket, Key="copied")["UploadId"]
        p1 = self.s3.upload_part_copy(
            Bucket=self.bucket, Key="copied", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": self.bucket, "Key": "copy-src"}, CopySourceRange="bytes=0-5242879",
        )["CopyPartResult"]["ETag"]
        p2 = self.s3.upload_part_copy(
            Bucket=self.bucket, Key="copied", UploadId=uid, PartNumber=2,
            CopySource={"Bucket": self.bucket, "Key": "copy-src"}, CopySourceRange="bytes=5242880-6291455",
        )["CopyPartResult"]["ETag"]
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key="copied", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]},
        )
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="copied")["Body"].read(), src)

    def test_errors_and_abort(self):
        uid = self.s3.create_multipart_upload(Bucket=self.bucket, Key="bad")["UploadId"]
        e1 = self.s3.upload_part(Bucket=self.bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
        e2 = self.s3.upload_part(Bucket=self.bucket, Key="bad", UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
        cases = [
            ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}], "EntityTooSmall"),
            ([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}], "InvalidPartOrder"),
            ([{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}], "InvalidPart"),
            ([{"PartNumber": 3, "ETag": e1}], "InvalidPart"),
        ]
        for parts, code in cases:
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket, Key="bad", UploadId=uid, MultipartUpload={"Parts": parts}
                )
            self.assertEqual(error_code(cm.exception), code, parts)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="bad", UploadId=uid)
        for call in (
            lambda: self.s3.list_parts(Bucket=self.bucket, Key="bad", UploadId=uid),
            lambda: self.s3.upload_part(Bucket=self.bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"x"),
            lambda: self.s3.abort_multipart_upload(Bucket=self.bucket, Key="bad", UploadId=uid),
        ):
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                call()
            self.assertEqual(error_code(cm.exception), "NoSuchUpload")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.upload_part(Bucket=self.bucket, Key="bad", UploadId=uid, PartNumber=10001, Body=b"x")
        self.assertIn(error_code(cm.exception), ("InvalidArgument", "NoSuchUpload"))

    def test_upload_fileobj_uses_multipart(self):
        import io

        from boto3.s3.transfer import TransferConfig

        body = os.urandom(12 * MIB + 17)
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        self.s3.upload_fileobj(io.BytesIO(body), self.bucket, "managed", Config=cfg)
        out = io.BytesIO()
        self.s3.download_fileobj(self.bucket, "managed", out, Config=cfg)
        self.assertEqual(out.getvalue(), body)
        self.assertTrue(self.s3.head_object(Bucket=self.bucket, Key="managed")["ETag"].endswith('-3"'))


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Presigned URLs signed with SigV4 (query-string auth).
        cls.s3 = client(signature_version="s3v4")
        cls.bucket = new_bucket(cls.s3)
        cls.s3.put_object(Bucket=cls.bucket, Key="p", Body=b"presigned body")

    @classmethod
    def tearDownClass(cls):
        empty_and_delete(cls.s3, cls.bucket)

    def test_presigned_get_with_plain_http(self):
        url = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "p"}, ExpiresIn=60
        )
        with urllib.request.urlopen(url) as r:
            self.assertEqual(r.read(), b"presigned body")
        tampered = url.replace("Key=p", "Key=q") if "Key=p" in url else url.replace("/p?", "/q?")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(tampered)
        self.assertEqual(cm.exception.code, 403)

    def test_sigv2_presigned_and_signed_requests(self):
        # boto3's default presigned URLs against a custom endpoint are SigV2
        # (AWSAccessKeyId/Signature/Expires); older tools sign headers with it.
        v2 = client(signature_version="s3")
        url = client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "p"}, ExpiresIn=60
        )
        with urllib.request.urlopen(url) as r:
            self.assertEqual(r.read(), b"presigned body")
        v2.put_object(Bucket=self.bucket, Key="v2 key+x", Body=b"signed with v2")
        self.assertEqual(
            v2.get_object(Bucket=self.bucket, Key="v2 key+x")["Body"].read(), b"signed with v2"
        )
        self.assertIn("v2 key+x", [o["Key"] for o in v2.list_objects(Bucket=self.bucket)["Contents"]])

    def test_presigned_url_expires(self):
        url = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": "p"}, ExpiresIn=1
        )
        time.sleep(2.5)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url)
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b"AccessDenied", cm.exception.read())

    def test_presigned_put(self):
        url = self.s3.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": "pp"}, ExpiresIn=60
        )
        req = urllib.request.Request(url, data=b"put via url", method="PUT")
        urllib.request.urlopen(req).read()
        self.assertEqual(self.s3.get_object(Bucket=self.bucket, Key="pp")["Body"].read(), b"put via url")

    def test_wrong_secret(self):
        bad = boto3.client(
            "s3",
            endpoint_url=ENDPOINT,
            region_name=REGION,
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key="wrong" * 8,
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            bad.list_buckets()
        self.assertEqual(error_code(cm.exception), "SignatureDoesNotMatch")

    def test_unknown_access_key(self):
        bad = boto3.client(
            "s3", endpoint_url=ENDPOINT, region_name=REGION,
            aws_access_key_id="NOSUCHKEY", aws_secret_access_key="x" * 40,
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            bad.list_buckets()
        self.assertEqual(error_code(cm.exception), "InvalidAccessKeyId")

    def test_anonymous_is_denied(self):
        anon = boto3.client(
            "s3", endpoint_url=ENDPOINT, region_name=REGION,
            config=Config(signature_version=botocore.UNSIGNED),
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            anon.get_object(Bucket=self.bucket, Key="p")
        self.assertEqual(error_code(cm.exception), "AccessDenied")

    def test_unsigned_payload_and_signed_payload(self):
        # botocore signs the payload over plain HTTP unless told otherwise.
        for signed in (True, False):
            c = boto3.client(
                "s3", endpoint_url=ENDPOINT, region_name=REGION,
                config=Config(s3={"payload_signing_enabled": signed}, request_checksum_calculation="when_required"),
            )
            c.put_object(Bucket=self.bucket, Key=f"sig-{signed}", Body=b"payload")
            self.assertEqual(c.get_object(Bucket=self.bucket, Key=f"sig-{signed}")["Body"].read(), b"payload")


if __name__ == "__main__":
    unittest.main(verbosity=2)
