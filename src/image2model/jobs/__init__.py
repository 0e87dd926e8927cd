"""Jobs: one upload, one item per image, moved forward by workers."""
