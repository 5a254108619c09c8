"""Changing a host tree: plan every edit, write all or nothing, revert byte-exactly (``patch``); materialise a
tree offline (``vendor``); the named compatibility edits for today's packages (``fixes``).

What to insert where is the hosts' (``yolov5_shuffle.hosts``); this package only applies it.
"""
