"""S2: scoring box proposals and assembling them into a structure."""
