"""Tests for app.webhooks."""
