"""witnessbox.publish"""
