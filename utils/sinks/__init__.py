"""Where months are written: PostgreSQL, GCS, BigQuery (and the course's views over them), one
load of a target at a time, and the clients the environment picks (environment.py, the one
module that reads IO_CONFIG_PROFILE). They import neither the steps nor Mage.
"""
