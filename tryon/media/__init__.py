"""Plain helpers for what comes in from outside: image checks, the JPEG structure
reader, and outgoing HTTP behind the private-address guard. No Flask here.
"""
