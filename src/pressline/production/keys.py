"""Facility keys: ``fk_…:fs_…`` pairs, apart from customers' ``pk_…:sk_…`` keys.

The distinct prefixes keep the two kinds apart at the first glance: a customer key
sent to the production API (or a facility key to the order API) is malformed there,
so it is a 401 before any lookup. Secrets are stored as SHA-256, like API keys.
"""

from __future__ import annotations

from pressline.accounts.keys import KeyFormat

FACILITY_KEYS = KeyFormat("fk_", "fs_")
generate_key = FACILITY_KEYS.generate
parse_header = FACILITY_KEYS.parse_header
