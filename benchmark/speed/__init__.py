"""speed stage."""
