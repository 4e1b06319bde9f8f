"""What a taxi month is and how it is read, checked and cleaned: the services' schema (the one
schema module), the releases, the files' layouts, the cleaning rules. No database, no cloud, no
environment, no Mage (scripts/dev/check_layers.py holds it to that).
"""
