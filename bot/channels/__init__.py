"""Input channels registered in credentials.yml by dotted path."""
