"""Tooling for one machine, never deployed: ``template.yaml`` read as data, the
local stack (``python -m local run``), dev tokens, the demo and the build."""
