"""Pure checks over domain records: each returns findings with evidence and a severity; no I/O."""
