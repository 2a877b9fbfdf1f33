"""Cloud provider adapters."""
