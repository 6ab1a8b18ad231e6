"""Webhook delivery: Standard Webhooks signing and the SSRF guard."""
