"""Interactive serial consoles: the controller splices a viewer's websocket to the one the
agent of the guest's node dials out with (the controller never reaches into a node)."""
