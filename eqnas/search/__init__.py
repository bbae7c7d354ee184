"""Architecture search: spaces, the FLOP filter, strategies (through NNI), records."""
