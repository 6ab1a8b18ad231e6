"""Dossiers of a scenario: plan (profiles and inputs), render (wire items on demand), truth."""
