"""Training stages and their shared pieces (run folders, callbacks, device strategy)."""
