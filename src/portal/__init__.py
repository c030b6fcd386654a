"""portal: the self-service Customer Portal of a multi-tenant hosted phone system."""

__version__ = "0.1.0"
