"""Replay evaluation of bags through the node pipeline."""
