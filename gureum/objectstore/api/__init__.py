"""HTTP faces of object storage: Swift v1 at /object-store, S3 at /s3."""
