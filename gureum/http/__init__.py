"""The HTTP kit shared by every service: errors, request context, endpoints."""
