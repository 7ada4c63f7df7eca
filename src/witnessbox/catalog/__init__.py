"""witnessbox.catalog"""
