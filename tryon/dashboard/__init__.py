"""The browser side: sign-up and log-in, the dashboard pages and admin (sessions, CSRF).
"""
