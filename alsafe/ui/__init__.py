"""People in the loop: the labeling widget, its keyboard box, the session that drives rounds, the dashboard."""
