"""Pixels to signals: PDQ (reference and fast modes) and exact digests."""
