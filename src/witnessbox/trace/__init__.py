"""witnessbox.trace"""
