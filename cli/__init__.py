"""The podeploy command line."""
