"""Pressline: order intake and order management for print service providers."""

__version__ = "0.1.0"
