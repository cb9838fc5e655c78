"""The request log: every call to a connector endpoint, from raw body to final order.

``recorder`` collects entries at the edge and writes them in batches off the request
path; ``store`` holds the SQL; ``purging`` forgets entries past their retention;
``cli`` is ``pressline requests``. See docs/adr/0011.
"""
