"""What the pages and the JSON API of one area both need: one file per area, only when there is something to share."""
