"""witnessbox.redact"""
