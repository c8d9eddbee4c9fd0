"""The web view: one module per page, plus the shared HTML layout and the OpenAPI description."""
