"""exconf: declarative configuration for Microsoft Exchange on-premises."""

__version__ = "0.1.0"
