"""S3 beside Swift: the same buckets (containers) and objects, path style under /s3."""
