"""HTTP adapters: parse, call a service, return a schema."""
