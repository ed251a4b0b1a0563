"""Image: the Glance v2 API, image records and the content-addressed image store."""
