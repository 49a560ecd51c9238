"""The built-in knowledge base: YAML policy files shipped with podeploy."""
