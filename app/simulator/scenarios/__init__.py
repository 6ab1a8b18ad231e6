"""Scenarios: plan, render, one module per province scenario (tay_ninh, dong_thap, small),
registry."""
