"""witnessbox.export"""
