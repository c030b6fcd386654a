"""The softphone's server side: ephemeral SIP/TURN credentials and a launcher for Kamailio."""
