"""podeploy: an open, auditable deployment advisor for Dynamics 365 Project Operations."""

__version__ = "0.1.0"
