"""Execution: exits, costs, and (with the chain layer) the order lifecycle."""
