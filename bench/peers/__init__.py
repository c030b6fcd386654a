"""What users would pick instead of the portal, built the obvious way, for case 1b."""
