"""Pure JSON <-> canonical codecs, one module per API format, shared by wire/ (client side) and
providers/ (upstream side) so that each direction of a format is written once."""
