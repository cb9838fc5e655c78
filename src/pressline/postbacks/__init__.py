"""Postbacks: events customers subscribe to, signed and delivered to their webhooks.

Pure parts: ``events`` (the default JSON body), ``signing`` (Standard Webhooks
headers), ``outbound`` (which addresses may be called), ``schedule`` (when to retry).
"""
