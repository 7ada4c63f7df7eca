"""witnessbox.web"""
