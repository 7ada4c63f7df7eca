"""witnessbox: seal, protect, document, trace, hand over and publish citizen footage."""

__version__ = "0.1.0"
