"""The job layer: the jobs table and its ledger moves, submissions, the worker, job
processing, webhooks, retention and the status document. No Flask here.
"""
