"""The steps of the notebooks, apart from the widgets: run the notebook's own worker, read what a step shows
(priority order, delays, progress, recovery), chart where the time went, and the small experiments of 01."""
