"""JSON Schemas shipped with podeploy."""
