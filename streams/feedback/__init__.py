"""The feedback loop: attribute interactions to the lists and sources that caused them,
keep per-source / per-config-version CTR, and learn fusion weights online (bandit)."""
