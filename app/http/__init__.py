"""The HTTP edge: middlewares, body and query checks, the OpenAPI document, probes, and the
runtime the lifespan builds with the dependencies that hand its parts to handlers."""
