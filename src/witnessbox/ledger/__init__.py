"""witnessbox.ledger"""
