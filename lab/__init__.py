"""exconf package."""
