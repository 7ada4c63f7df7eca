"""witnessbox.media"""
