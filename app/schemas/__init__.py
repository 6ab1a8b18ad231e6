"""Response models of the API: what each endpoint answers, for its OpenAPI document.

The routers build their answers as dicts (or JSON bytes, for the cached read lists); these
models describe those answers field by field. Timestamps are ISO 8601 strings exactly as the
service writes them; objects that hold upstream records (``provincial``, ``national``,
``evidence``, run ``counts``) are free-form.
"""
